import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { AgentError } from '../errors.js';
import { DEFAULT_AGENT_CONFIG, type AgentConfig } from '../run/agent.js';

/** Where an installed agent finds the release key its integrity manifest must be signed with. */
export const DEFAULT_RELEASE_KEY_FILE = '/etc/sightline/agent-release-key.pem';

const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max).optional();
const envSchema = z.object({
  SIGHTLINE_ARCHIVE_PASSPHRASE: z.string().min(1).max(1024).optional(),
  SIGHTLINE_AGENT_RELEASE_KEY: z.string().min(1).optional(),
  SIGHTLINE_AGENT_HEARTBEAT_SECONDS: positiveInt(3600),
  SIGHTLINE_AGENT_POLL_WAIT_SECONDS: z.coerce.number().int().min(0).max(60).optional(),
  SIGHTLINE_AGENT_INTEGRITY_INTERVAL_SECONDS: positiveInt(7 * 86_400),
  SIGHTLINE_AGENT_SPOOL_QUOTA_MB: positiveInt(1_000_000),
  SIGHTLINE_AGENT_BACKOFF_BASE_MS: positiveInt(600_000),
  SIGHTLINE_AGENT_BACKOFF_MAX_MS: positiveInt(3_600_000),
  /** Port of the appliance's local HTTPS page (app outputs as MJPEG); default 8443, 0 turns it off. */
  SIGHTLINE_AGENT_OUTPUT_PORT: z.coerce.number().int().min(0).max(65535).optional(),
});
export type AgentEnv = Readonly<z.infer<typeof envSchema>>;

/** Reads the environment once, validates it, freezes it; a bad value names its key (STYLE: configuration). */
export function readEnv(env: NodeJS.ProcessEnv): AgentEnv {
  const picked = Object.fromEntries(
    Object.keys(envSchema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const parsed = envSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AgentError('CONFIG_INVALID', `Environment variable ${String(issue?.path[0] ?? '?')} is invalid: ${issue?.message ?? ''}.`, {
      details: { key: String(issue?.path[0] ?? '') },
    });
  }
  return Object.freeze(parsed.data);
}

export function agentConfig(dataDir: string, env: AgentEnv): AgentConfig {
  const d = DEFAULT_AGENT_CONFIG;
  return Object.freeze({
    dataDir,
    heartbeatIntervalMs: (env.SIGHTLINE_AGENT_HEARTBEAT_SECONDS ?? d.heartbeatIntervalMs / 1000) * 1000,
    pollWaitSeconds: env.SIGHTLINE_AGENT_POLL_WAIT_SECONDS ?? d.pollWaitSeconds,
    integrityIntervalMs: (env.SIGHTLINE_AGENT_INTEGRITY_INTERVAL_SECONDS ?? d.integrityIntervalMs / 1000) * 1000,
    spoolQuotaBytes: (env.SIGHTLINE_AGENT_SPOOL_QUOTA_MB ?? d.spoolQuotaBytes / 1024 / 1024) * 1024 * 1024,
    backoff: Object.freeze({
      baseMs: env.SIGHTLINE_AGENT_BACKOFF_BASE_MS ?? d.backoff.baseMs,
      maxMs: env.SIGHTLINE_AGENT_BACKOFF_MAX_MS ?? d.backoff.maxMs,
    }),
    logIdleMs: d.logIdleMs,
    ...(env.SIGHTLINE_AGENT_OUTPUT_PORT === undefined ? {} : { apps: { local: env.SIGHTLINE_AGENT_OUTPUT_PORT === 0 ? (false as const) : { port: env.SIGHTLINE_AGENT_OUTPUT_PORT } } }),
  });
}

/**
 * The release public keys (Ed25519 PEM, one or more in one file): from
 * --release-key, else SIGHTLINE_AGENT_RELEASE_KEY, else the installed default
 * if it exists. None is a valid answer: integrity is then `unchecked`.
 */
export function loadReleaseKeys(file: string | undefined, env: AgentEnv): KeyObject[] {
  const path = file ?? env.SIGHTLINE_AGENT_RELEASE_KEY ?? (existsSync(DEFAULT_RELEASE_KEY_FILE) ? DEFAULT_RELEASE_KEY_FILE : undefined);
  if (path === undefined) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AgentError('CONFIG_INVALID', `The release key file ${path} cannot be read.`, { cause: err });
  }
  const pems = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  if (pems.length === 0 || pems.length > 8) throw new AgentError('CONFIG_INVALID', `${path} must hold 1 to 8 PEM public keys.`);
  return pems.map((pem) => {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519')
      throw new AgentError('CONFIG_INVALID', `${path} holds a ${key.asymmetricKeyType ?? 'non-Ed25519'} key; release keys are Ed25519.`);
    return key;
  });
}

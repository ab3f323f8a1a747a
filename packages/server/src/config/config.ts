import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { SightlineError } from '@sightline/core';

export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_UNREADABLE';
export class ConfigError extends SightlineError<ConfigErrorCode> {}

/** The largest config file we read; a config is a few hundred bytes. */
const MAX_CONFIG_BYTES = 64 * 1024;

const tlsSchema = z
  .object({
    /** "1.2" (default: 1.2 and 1.3, 1.3 preferred) or "1.3" (1.3 only). */
    minVersion: z.enum(['1.2', '1.3']).default('1.2'),
    /** Bring-your-own certificate chain and key (PEM). Both or neither. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** Extra DNS names / IPs for the generated server certificate. */
    extraNames: z.array(z.string().min(1).max(253)).max(50).default([]),
    hstsMaxAgeSeconds: z.number().int().min(0).max(63072000).default(31536000),
  })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'give both tls.certFile and tls.keyFile, or neither',
    path: ['certFile'],
  });

export const configSchema = z
  .object({
    dataDir: z.string().min(1),
    server: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8443),
        /** The URL clients use; defaults to https://localhost:PORT. */
        publicUrl: z.url({ protocol: /^https$/ }).optional(),
        maxConnections: z.number().int().min(1).max(1_000_000).default(100_000),
      })
      .strict()
      .default({ host: '0.0.0.0', port: 8443, maxConnections: 100_000 }),
    tls: tlsSchema.default({ minVersion: '1.2', extraNames: [], hstsMaxAgeSeconds: 31536000 }),
    /** Refuse to start unless Node's OpenSSL has a FIPS provider, and use it. */
    fips: z.boolean().default(false),
    storage: z
      .object({
        /** `postgres://…` for PostgreSQL; empty for the embedded SQLite file. */
        url: z.string().max(2048).default(''),
        poolSize: z.number().int().min(1).max(200).default(10),
      })
      .strict()
      .default({ url: '', poolSize: 10 }),
    auth: z
      .object({
        /** MFA for every human login (seed: "Use MFA with each account"). */
        requireMfa: z.boolean().default(true),
        sessionTtlSeconds: z.number().int().min(60).max(86400).default(8 * 3600),
        maxFailedLoginsPerHour: z.number().int().min(1).max(1000).default(100),
        apiKeyMaxDays: z.number().int().min(1).max(730).default(365),
      })
      .strict()
      .default({ requireMfa: true, sessionTtlSeconds: 8 * 3600, maxFailedLoginsPerHour: 100, apiKeyMaxDays: 365 }),
    devices: z
      .object({
        /** How long a provisioning archive's certificate lives (5 minutes to 7 days). */
        provisioningValidityMinutes: z.number().int().min(5).max(10080).default(60),
        operationalCertDays: z.number().int().min(1).max(397).default(30),
        onlineWindowSeconds: z.number().int().min(10).max(3600).default(90),
      })
      .strict()
      .default({ provisioningValidityMinutes: 60, operationalCertDays: 30, onlineWindowSeconds: 90 }),
    audit: z
      .object({
        /** Sign a checkpoint at least this often… */
        checkpointIntervalSeconds: z.number().int().min(1).max(86400).default(300),
        /** …and after at most this many new events. */
        checkpointEveryEvents: z.number().int().min(1).max(1_000_000).default(10000),
        /** Drop exported periods older than this many days (0: keep every event forever). */
        retentionDays: z.number().int().min(0).max(36500).default(0),
      })
      .strict()
      .default({ checkpointIntervalSeconds: 300, checkpointEveryEvents: 10000, retentionDays: 0 }),
    artifacts: z
      .object({
        /** Largest artifact accepted (plaintext bytes); checked while streaming. */
        maxObjectBytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).default(8 * 1024 ** 3),
        /** Plaintext bytes per encrypted segment (4 KiB to 16 MiB); memory per transfer is about one segment. */
        segmentBytes: z.number().int().min(4096).max(16 * 1024 * 1024).default(1024 * 1024),
      })
      .strict()
      .default({ maxObjectBytes: 8 * 1024 ** 3, segmentBytes: 1024 * 1024 }),
    log: z
      .object({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') })
      .strict()
      .default({ level: 'info' }),
    /** The log store (seed point 19): retention default and the caps on each ingested batch. */
    logs: z
      .object({
        /** Retention of a new log group unless it names its own (1–3650 days). */
        defaultRetentionDays: z.number().int().min(1).max(3650).default(30),
        /** Bytes of one batch: messages and fields (UTF-8), plus 26 per event, as CloudWatch Logs counts. */
        maxBatchBytes: z.number().int().min(1024).max(4 * 1024 * 1024).default(1024 * 1024),
        maxEventsPerBatch: z.number().int().min(1).max(100_000).default(10_000),
        /** Bytes of one message (UTF-8). */
        maxLineBytes: z.number().int().min(256).max(1024 * 1024).default(64 * 1024),
      })
      .strict()
      .default({ defaultRetentionDays: 30, maxBatchBytes: 1024 * 1024, maxEventsPerBatch: 10_000, maxLineBytes: 64 * 1024 }),
  })
  .strict();

export type Config = Readonly<z.infer<typeof configSchema>>;

export const CONFIG_FILE = 'config.json';

/** Environment variables that override the file, and the key each sets. */
const ENV_KEYS: ReadonlyArray<[string, string[], 'string' | 'number' | 'boolean']> = [
  ['SIGHTLINE_HOST', ['server', 'host'], 'string'],
  ['SIGHTLINE_PORT', ['server', 'port'], 'number'],
  ['SIGHTLINE_PUBLIC_URL', ['server', 'publicUrl'], 'string'],
  ['SIGHTLINE_TLS_MIN_VERSION', ['tls', 'minVersion'], 'string'],
  ['SIGHTLINE_FIPS', ['fips'], 'boolean'],
  ['SIGHTLINE_STORAGE_URL', ['storage', 'url'], 'string'],
  ['SIGHTLINE_LOG_LEVEL', ['log', 'level'], 'string'],
];

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function parseEnvValue(name: string, raw: string, kind: 'string' | 'number' | 'boolean'): unknown {
  if (kind === 'string') return raw;
  if (kind === 'number') {
    if (!/^\d+$/.test(raw)) throw new ConfigError('CONFIG_INVALID', `${name} must be a whole number.`, { details: { key: name } });
    return Number(raw);
  }
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError('CONFIG_INVALID', `${name} must be true or false.`, { details: { key: name } });
}

/**
 * Reads `DIR/config.json` (if present) and the SIGHTLINE_* environment, once,
 * validates the result and freezes it. A bad value stops start-up with the
 * key named.
 */
export function loadConfig(dataDir: string, env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): Config {
  const dir = resolve(dataDir);
  const file = join(dir, CONFIG_FILE);
  let raw: Record<string, unknown> = {};
  if (existsSync(file)) {
    if (statSync(file).size > MAX_CONFIG_BYTES) {
      throw new ConfigError('CONFIG_INVALID', `${file} is larger than ${MAX_CONFIG_BYTES} bytes.`);
    }
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      raw = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError('CONFIG_UNREADABLE', `${file} is not a JSON object; fix or remove it.`, { cause: err });
    }
  }
  raw = structuredClone(raw);
  for (const [name, path, kind] of ENV_KEYS) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, parseEnvValue(name, value, kind));
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) setPath(raw, key.split('.'), value);
  }
  raw['dataDir'] = dir;
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue === undefined ? [] : issue.path.map(String);
    // An unknown key is named itself, not its parent object.
    if (issue?.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
    const key = path.join('.') || '(root)';
    throw new ConfigError('CONFIG_INVALID', `Configuration key "${key}" is invalid: ${issue?.message ?? 'bad value'}.`, {
      details: { key },
    });
  }
  return deepFreeze(result.data);
}

/** The storage URL in effect: the configured one, or the embedded SQLite file. */
export function storageUrl(config: Config): string {
  return config.storage.url === '' ? `sqlite:${join(config.dataDir, 'sightline.db')}` : config.storage.url;
}

import { readdir, stat } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isSightlineError } from '@sightline/core';
import { systemClock } from '../clock.js';
import { ControlPlaneFetcher } from '../client/control-plane-fetcher.js';
import { AgentError, ControlPlaneError } from '../errors.js';
import { certFacts, renewAt } from '../identity/keys.js';
import { isRegistered, register } from '../identity/register.js';
import { IntegrityMonitor } from '../integrity/monitor.js';
import { AgentLogger } from '../logs/logger.js';
import { systemRuntime } from '../reconcile/runtime.js';
import { fullReset } from '../reset/reset.js';
import { Agent } from '../run/agent.js';
import { layout } from '../storage/data-dir.js';
import { acquireLock, runningAgentPid } from '../storage/lock.js';
import { RECORD, agentState, agentStatus, appsStatusRecord, identityRecord } from '../storage/records.js';
import { KEY_FILE_WARNING, RootKeyManager } from '../storage/root-key.js';
import { EncryptedStore } from '../storage/store.js';
import { Tpm } from '../storage/tpm.js';
import { AGENT_ROOT, AGENT_VERSION } from '../version.js';
import { agentConfig, loadReleaseKeys, readEnv } from './config.js';
import { resolvePassphrase } from './passphrase.js';
import { readLocalAccess } from '../output/access.js';
import { DEFAULT_LOCAL_PORT } from '../output/server.js';
import { cmdLaunch, cmdUpdate } from '../launcher/cli.js';
import { EXIT_BOOT_TRIAL, LAUNCH_ENV } from '../launcher/launcher.js';
import { UpdateError } from '../update/errors.js';

/** Exit codes scripts and systemd (RestartPreventExitStatus) rely on. */
export const EXIT = Object.freeze({
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  REFUSED: 3,
  STATE: 4,
  ARCHIVE: 5,
  UNREACHABLE: 6,
  STORAGE: 7,
  /** An update was refused (its code says why) or no slot verifies. */
  UPDATE: 8,
  /** The agent installed an update and exits so the launcher boots it on trial. */
  BOOT_TRIAL: EXIT_BOOT_TRIAL,
  CANCELLED: 130,
});

export const HELP = `sightline-agent ${AGENT_VERSION}: the Sightline appliance agent

Usage:
  sightline-agent register --archive FILE --data-dir DIR [--passphrase-file FILE]
                           [--root-key auto|tpm|key-file] [--json]
      Decrypt the configuration archive, make the device key pair here, get the
      device certificate over mTLS, store it all encrypted, delete the archive.
      Passphrase: --passphrase-file, else SIGHTLINE_ARCHIVE_PASSPHRASE, else a
      prompt (no echo).
  sightline-agent start --data-dir DIR [--release-key FILE]
      Run the agent (what the systemd unit does).
  sightline-agent status --data-dir DIR [--json]
  sightline-agent launch --slots DIR --data-dir DIR [--health-timeout SECONDS]
                         -- sightline-agent start --data-dir DIR
      The launcher (what the systemd unit runs): verifies the active A/B slot
      against its signed release metadata and starts the agent from it; boots
      a new release on trial and returns to the previous one if it does not
      report healthy in time (default 120 s) or crashes three times.
  sightline-agent update --bundle FILE --slots DIR --data-dir DIR [--json]
      Install a signed release from a file into the inactive slot (same checks
      as an update job, anti-rollback floor included); booted on trial at the
      next service start.
  sightline-agent reset --full --data-dir DIR [--json]
      Crypto-erase (destroy the root key), wipe the data folder, and leave the
      agent unprovisioned. Stop the service first.

Exit codes:
  0    success
  1    unexpected failure
  2    usage error
  3    refused by the control plane: certificate revoked, deregistered, untrusted
       or expired; archive already used or expired; CSR for another name.
       Reset and provision the device again.
  4    wrong state: not registered, already registered, agent already running
  5    archive: not found, wrong passphrase, damaged or invalid
  6    control plane unreachable or timing out, or presenting a certificate
       other than the pinned one
  7    local storage: TPM or root key unavailable, state unreadable, bad config
  8    update refused (expired, rolled back or badly signed metadata, bundle
       mismatch, below the anti-rollback floor) or no slot verifies
  10   (agent under the launcher) an update is installed: boot it on trial
  130  cancelled at the prompt

Errors go to stderr as one line, "error CODE: sentence"; CODE is stable.

Environment:
  SIGHTLINE_ARCHIVE_PASSPHRASE   archive passphrase for register
  SIGHTLINE_AGENT_RELEASE_KEY    Ed25519 PEM the integrity manifest is signed with
                                 (default /etc/sightline/agent-release-key.pem)
  SIGHTLINE_AGENT_HEARTBEAT_SECONDS, SIGHTLINE_AGENT_POLL_WAIT_SECONDS,
  SIGHTLINE_AGENT_INTEGRITY_INTERVAL_SECONDS, SIGHTLINE_AGENT_SPOOL_QUOTA_MB,
  SIGHTLINE_AGENT_BACKOFF_BASE_MS, SIGHTLINE_AGENT_BACKOFF_MAX_MS
  SIGHTLINE_AGENT_OUTPUT_PORT    port of the local HTTPS page with the app outputs
                                 (MJPEG; default 8443, 0: off)
  TPM2TOOLS_TCTI                 TPM to use (default: /dev/tpmrm0)
`;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
};

class UsageError extends AgentError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

function exitCodeOf(err: unknown): number {
  if (err instanceof ControlPlaneError) return EXIT.REFUSED;
  if (err instanceof UpdateError) return EXIT.UPDATE;
  if (!(err instanceof AgentError)) return EXIT.UNEXPECTED;
  switch (err.code) {
    case 'USAGE':
      return EXIT.USAGE;
    case 'DEVICE_REFUSED':
      return EXIT.REFUSED;
    case 'ALREADY_REGISTERED':
    case 'NOT_REGISTERED':
    case 'AGENT_RUNNING':
      return EXIT.STATE;
    case 'ARCHIVE_NOT_FOUND':
    case 'ARCHIVE_TOO_LARGE':
    case 'ARCHIVE_PASSPHRASE_WRONG':
    case 'ARCHIVE_CORRUPT':
    case 'ARCHIVE_INVALID':
      return EXIT.ARCHIVE;
    case 'PASSPHRASE_MISSING':
      return err.message.startsWith('Cancelled') ? EXIT.CANCELLED : EXIT.USAGE;
    case 'SERVER_PIN_MISMATCH':
    case 'SERVER_UNTRUSTED':
    case 'CONTROL_PLANE_UNREACHABLE':
    case 'CONTROL_PLANE_TIMEOUT':
    case 'CONTROL_PLANE_ERROR':
    case 'RESPONSE_TOO_LARGE':
    case 'RESPONSE_INVALID':
    case 'ABORTED':
      return EXIT.UNREACHABLE;
    case 'STORE_CORRUPT':
    case 'ROOT_KEY_MISSING':
    case 'ROOT_KEY_INVALID':
    case 'TPM_UNAVAILABLE':
    case 'TPM_FAILED':
    case 'CONFIG_INVALID':
    case 'INTEGRITY_MANIFEST_INVALID':
    case 'INTEGRITY_SIGNATURE_INVALID':
      return EXIT.STORAGE;
  }
}

function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
): Record<string, string | boolean | (string | boolean)[] | undefined> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false })
      .values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. See sightline-agent --help.`);
  }
}

function requireString(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required. See sightline-agent --help.`);
  return v;
}

const optString = (values: Record<string, unknown>, name: string): string | undefined =>
  typeof values[name] === 'string' ? values[name] : undefined;

async function cmdRegister(args: string[], io: Io): Promise<number> {
  const v = parse(args, {
    archive: { type: 'string' },
    'data-dir': { type: 'string' },
    'passphrase-file': { type: 'string' },
    'root-key': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (v.help === true) return help(io);
  const archivePath = requireString(v, 'archive');
  const dataDir = requireString(v, 'data-dir');
  const mode = optString(v, 'root-key') ?? 'auto';
  if (mode !== 'auto' && mode !== 'tpm' && mode !== 'key-file') throw new UsageError('--root-key must be auto, tpm or key-file.');
  const env = readEnv(io.env);
  if (isRegistered(dataDir)) {
    throw new AgentError(
      'ALREADY_REGISTERED',
      `The agent in ${layout(dataDir).root} is already registered; run sightline-agent reset --full first to register it again.`,
    );
  }
  const passphrase = await resolvePassphrase(optString(v, 'passphrase-file'), env.SIGHTLINE_ARCHIVE_PASSPHRASE);
  const result = await register({
    dataDir,
    archivePath,
    passphrase,
    rootKeyMode: mode,
    tpm: new Tpm(undefined, io.env),
    fetcherFactory: (id) => new ControlPlaneFetcher(id),
    now: () => new Date(),
  });
  if (v.json === true) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    if (result.rootKeyProtection === 'key-file') io.err(`${KEY_FILE_WARNING}\n`);
    return EXIT.OK;
  }
  const lines = [
    `Registered device ${result.device} (id ${result.deviceId}, project ${result.project}) with ${result.controlPlaneUrl}.`,
    `Device certificate valid until ${result.certificateExpiresAt}; the agent renews it automatically.`,
    result.rootKeyProtection === 'tpm'
      ? `Root key sealed by the TPM (persistent handle ${result.tpmHandle ?? '?'}).`
      : `\n${'!'.repeat(78)}\n${KEY_FILE_WARNING}\n${'!'.repeat(78)}\n`,
    result.archive.deleted
      ? `The configuration archive ${result.archive.path} was deleted.`
      : `The configuration archive ${result.archive.path} could NOT be deleted (${result.archive.reason ?? 'unknown'}); delete or destroy it yourself.`,
    'Next: systemctl enable --now sightline-agent',
  ];
  io.out(`${lines.join('\n')}\n`);
  return EXIT.OK;
}

async function cmdStart(args: string[], io: Io): Promise<number> {
  const v = parse(args, { 'data-dir': { type: 'string' }, 'release-key': { type: 'string' } });
  if (v.help === true) return help(io);
  const dataDir = requireString(v, 'data-dir');
  const env = readEnv(io.env);
  const config = { ...agentConfig(dataDir, env), healthFile: io.env[LAUNCH_ENV.healthFile], slotsDir: io.env[LAUNCH_ENV.slotsDir] };
  const trustedKeys = loadReleaseKeys(optString(v, 'release-key'), env);
  const logger = new AgentLogger({ clock: systemClock, sink: (line) => io.out(`${line}\n`) });
  const integrity = new IntegrityMonitor({ root: AGENT_ROOT, trustedKeys, clock: systemClock, intervalMs: config.integrityIntervalMs });
  const tpm = new Tpm(undefined, io.env);
  const agent = await Agent.open(config, {
    clock: systemClock,
    random: Math.random,
    runtime: systemRuntime(),
    tpm,
    fetcherFactory: (id) => new ControlPlaneFetcher(id),
    integrity,
    logger,
  });
  const meta = await new RootKeyManager(dataDir, tpm).describe();
  if (meta?.protection === 'key-file') io.out(`${'!'.repeat(78)}\n${KEY_FILE_WARNING}\n${'!'.repeat(78)}\n`);
  const onSignal = (): void => agent.stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const exit = await agent.run();
    switch (exit.reason) {
      case 'stopped':
        return EXIT.OK;
      case 'update':
        return EXIT.BOOT_TRIAL;
      case 'reset':
        io.err('The control plane ran a full reset: the root key is destroyed and the data folder wiped. Provision the device again.\n');
        return EXIT.OK;
      case 'refused':
        io.err(
          `error DEVICE_REFUSED: the control plane refused this device (${exit.code}). Run sightline-agent reset --full --data-dir ${dataDir} and provision it again.\n`,
        );
        return EXIT.REFUSED;
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[]))
    total += (await stat(`${dir}/${name}`).catch(() => ({ size: 0 }))).size;
  return total;
}

async function cmdStatus(args: string[], io: Io): Promise<number> {
  const v = parse(args, { 'data-dir': { type: 'string' }, 'release-key': { type: 'string' }, json: { type: 'boolean' } });
  if (v.help === true) return help(io);
  const dataDir = requireString(v, 'data-dir');
  const env = readEnv(io.env);
  const paths = layout(dataDir);
  const integrity = await new IntegrityMonitor({
    root: AGENT_ROOT,
    trustedKeys: loadReleaseKeys(optString(v, 'release-key'), env),
    clock: systemClock,
    intervalMs: 0,
  }).check();
  if (!isRegistered(dataDir)) {
    const s = { registered: false, dataDir: paths.root, integrity, agentVersion: AGENT_VERSION };
    io.out(
      v.json === true
        ? `${JSON.stringify(s, null, 2)}\n`
        : `Not registered (${paths.root}). Run sightline-agent register --archive FILE --data-dir ${paths.root}.\nIntegrity: ${integrity.state}${integrity.detail === undefined ? '' : ` (${integrity.detail})`}\n`,
    );
    return EXIT.OK;
  }
  const tpm = new Tpm(undefined, io.env);
  const root = await new RootKeyManager(dataDir, tpm).load();
  const store = new EncryptedStore(paths.store, root.key);
  root.key.fill(0);
  const identity = await store.readJson(RECORD.identity, identityRecord);
  if (identity === undefined) throw new AgentError('NOT_REGISTERED', 'The identity record is missing.');
  const state = await store.readJson(RECORD.state, agentState);
  const last = await store.readJson(RECORD.status, agentStatus);
  const local = await readLocalAccess(store);
  const pid = await runningAgentPid(dataDir);
  // What the running agent last wrote of its apps (unreadable: left out, the rest of the status still shows).
  const apps = pid === undefined ? undefined : await store.readJson(RECORD.appsStatus, appsStatusRecord).catch(() => undefined);
  const cert = certFacts(identity.certPem);
  const s = {
    registered: true,
    dataDir: paths.root,
    agentVersion: AGENT_VERSION,
    device: identity.device,
    deviceId: identity.deviceId,
    project: identity.project,
    controlPlane: identity.controlPlane,
    certificate: {
      expiresAt: new Date(cert.notAfter).toISOString(),
      renewsAfter: new Date(renewAt(identity.certPem)).toISOString(),
      sha256: cert.sha256,
    },
    rootKeyProtection: root.meta.protection,
    ...(root.meta.protection === 'tpm' ? { tpmHandle: root.meta.handle } : { warning: KEY_FILE_WARNING }),
    integrity,
    agent: {
      running: pid !== undefined,
      ...(pid === undefined ? {} : { pid }),
      ...(last === undefined
        ? {}
        : {
            online: pid !== undefined && last.online,
            lastContactAt: last.lastContactAt,
            lastError: last.lastError,
            updatedAt: last.updatedAt,
            stopped: last.stopped,
          }),
    },
    ...(state?.refused === undefined ? {} : { refused: state.refused }),
    // The instances the running agent holds now (it runs them even while offline, from its last desired state).
    ...(apps === undefined ? {} : { apps: apps.apps, appsUpdatedAt: apps.updatedAt }),
    appliedStateEtag: state?.appliedEtag,
    logSpool: { bytes: await dirBytes(paths.spool), dropped: last?.logSpool.dropped ?? 0 },
    network: identity.network,
    ntp: identity.ntp,
    // Issue 6: the app outputs (MJPEG over HTTPS) behind this bearer token; the certificate is self-signed: pin it.
    ...(local === undefined
      ? {}
      : {
          localOutput: {
            port: env.SIGHTLINE_AGENT_OUTPUT_PORT ?? DEFAULT_LOCAL_PORT,
            path: '/apps/<instance>/outputs/<node>.mjpeg',
            token: local.token,
            certSha256: local.certSha256,
          },
        }),
  };
  if (v.json === true) {
    io.out(`${JSON.stringify(s, null, 2)}\n`);
    return EXIT.OK;
  }
  const lines = [
    `Device:         ${s.device} (id ${s.deviceId}, project ${s.project})`,
    `Control plane:  ${s.controlPlane.url} (pinned sha256 ${s.controlPlane.serverCertSha256.slice(0, 16)}…)`,
    `Certificate:    valid until ${s.certificate.expiresAt}; renews after ${s.certificate.renewsAfter}`,
    `Root key:       ${root.meta.protection === 'tpm' ? `sealed by the TPM (handle ${root.meta.handle})` : 'KEY FILE (no TPM)'}`,
    ...(root.meta.protection === 'key-file' ? [KEY_FILE_WARNING] : []),
    `Integrity:      ${integrity.state}${integrity.detail === undefined ? '' : ` (${integrity.detail})`}`,
    `Agent:          ${pid === undefined ? `not running${last?.stopped === undefined ? '' : ` (last stop: ${last.stopped})`}` : `running (pid ${pid}), ${last?.online === true ? 'online' : 'offline'}`}${last?.lastContactAt === undefined ? '' : `; last contact ${last.lastContactAt}`}`,
    ...(last?.lastError === undefined || last.online ? [] : [`Last error:     ${last.lastError.code}: ${last.lastError.message}`]),
    ...(state?.refused === undefined
      ? []
      : [`REFUSED:        ${state.refused.code} at ${state.refused.at}: run sightline-agent reset --full and provision again`]),
    ...(apps === undefined
      ? []
      : apps.apps.length === 0
        ? ['Apps:           none']
        : apps.apps.map(
            (a, i) => `${i === 0 ? 'Apps:          ' : '               '} ${a.app} (${a.instanceId}, revision ${a.revision}): ${a.stage}`,
          )),
    `Log spool:      ${s.logSpool.bytes} bytes waiting, ${s.logSpool.dropped} events dropped`,
    ...(local === undefined
      ? []
      : [
          `App outputs:    https://<this appliance>:${env.SIGHTLINE_AGENT_OUTPUT_PORT ?? DEFAULT_LOCAL_PORT}/apps/<instance>/outputs/<node>.mjpeg`,
          `                Authorization: Bearer ${local.token}`,
          `                certificate sha256 ${local.certSha256} (self-signed: pin it)`,
        ]),
  ];
  io.out(`${lines.join('\n')}\n`);
  return EXIT.OK;
}

async function cmdReset(args: string[], io: Io): Promise<number> {
  const v = parse(args, { full: { type: 'boolean' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
  if (v.help === true) return help(io);
  if (v.full !== true) throw new UsageError('Only a full reset exists: pass --full (it destroys the root key and wipes the data folder).');
  const dataDir = requireString(v, 'data-dir');
  const release = await acquireLock(dataDir).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return (): Promise<void> => Promise.resolve();
    throw err;
  });
  let report;
  try {
    report = await fullReset(dataDir, new Tpm(undefined, io.env));
  } finally {
    await release();
  }
  if (v.json === true) io.out(`${JSON.stringify(report, null, 2)}\n`);
  else {
    io.out(`Root key: ${report.detail}.\nWiped ${report.wiped.length} entries from ${layout(dataDir).root}. The agent is unprovisioned.\n`);
    io.out(
      'The control plane still lists this device: deregister it there (sightline device deregister NAME) so its certificates are revoked.\n',
    );
  }
  if (!report.rootKeyDestroyed) {
    io.err(`error TPM_FAILED: ${report.detail}\n`);
    return EXIT.STORAGE;
  }
  return EXIT.OK;
}

function help(io: Io): number {
  io.out(HELP);
  return EXIT.OK;
}

/** Runs one command; returns the exit code. Errors print as "error CODE: sentence". */
export async function run(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'register':
        return await cmdRegister(rest, io);
      case 'start':
        return await cmdStart(rest, io);
      case 'status':
        return await cmdStatus(rest, io);
      case 'reset':
        return await cmdReset(rest, io);
      case 'launch':
        return await cmdLaunch(rest, io);
      case 'update':
        return await cmdUpdate(rest, io);
      case '--version':
      case '-v':
        io.out(`${AGENT_VERSION}\n`);
        return EXIT.OK;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return help(io);
      default:
        throw new UsageError(`Unknown command "${command}". See sightline-agent --help.`);
    }
  } catch (err) {
    const code = exitCodeOf(err);
    if (isSightlineError(err)) io.err(`error ${err.code}: ${err.message}\n`);
    else io.err(`error UNEXPECTED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return code;
  }
}

import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { systemClock } from '../clock.js';
import { AgentError } from '../errors.js';
import { layout } from '../storage/data-dir.js';
import { RootKeyManager } from '../storage/root-key.js';
import { EncryptedStore } from '../storage/store.js';
import { Tpm } from '../storage/tpm.js';
import { SlotsDir } from '../update/slots.js';
import { AgentUpdater } from '../update/updater.js';
import { AGENT_ROOT, AGENT_VERSION } from '../version.js';
import { Launcher } from './launcher.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

function options(args: string[], spec: NonNullable<ParseArgsConfig['options']>): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options: spec, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new AgentError('USAGE', `${(err as Error).message}. See sightline-agent --help.`);
  }
}

function required(v: Record<string, unknown>, name: string): string {
  const s = v[name];
  if (typeof s !== 'string' || s === '') throw new AgentError('USAGE', `--${name} is required. See sightline-agent --help.`);
  return s;
}

/**
 * `sightline-agent launch --slots DIR --data-dir DIR [--health-timeout SECONDS] -- sightline-agent start ...`:
 * the launcher the systemd unit runs. It verifies and starts the agent from
 * the active slot (or the one on trial) with the arguments after `--`.
 */
export async function cmdLaunch(argv: string[], io: CliIo): Promise<number> {
  const cut = argv.indexOf('--');
  const own = cut === -1 ? argv : argv.slice(0, cut);
  const rest = cut === -1 ? [] : argv.slice(cut + 1);
  const v = options(own, { slots: { type: 'string' }, 'data-dir': { type: 'string' }, 'health-timeout': { type: 'string' } });
  const slots = required(v, 'slots');
  const dataDir = required(v, 'data-dir');
  // The command after `--` names the agent (its first word, as in the unit file) and its arguments.
  if (rest[0] !== 'sightline-agent' || rest.length < 2)
    throw new AgentError('USAGE', 'After "--" give the agent command, e.g. -- sightline-agent start --data-dir /var/lib/sightline-agent.');
  const timeout = Number(v['health-timeout'] ?? '120');
  if (!Number.isFinite(timeout) || timeout < 1 || timeout > 3600) throw new AgentError('USAGE', '--health-timeout is 1 to 3600 seconds.');
  const launcher = new Launcher({
    slotsDir: slots,
    dataDir,
    tpm: new Tpm(undefined, io.env),
    args: rest.slice(1),
    factoryEntry: join(AGENT_ROOT, 'bin', 'sightline-agent.js'),
    healthTimeoutMs: timeout * 1000,
    clock: systemClock,
    env: io.env,
    log: (level, message, fields) =>
      io.err(`${JSON.stringify({ time: new Date().toISOString(), level, source: 'launcher', message, ...fields })}\n`),
  });
  const onSignal = (): void => launcher.stop();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    return await launcher.run();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * `sightline-agent update --bundle FILE --slots DIR --data-dir DIR [--json]`:
 * a local install. The bundle must be a release in the device's stored,
 * signed metadata and passes the same checks as a download (floor included);
 * it is then booted on trial at the next start of the service.
 */
export async function cmdUpdate(argv: string[], io: CliIo): Promise<number> {
  const v = options(argv, {
    bundle: { type: 'string' },
    slots: { type: 'string' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
  });
  const bundle = required(v, 'bundle');
  const slots = new SlotsDir(required(v, 'slots'));
  const dataDir = required(v, 'data-dir');
  const root = await new RootKeyManager(dataDir, new Tpm(undefined, io.env)).load();
  const store = new EncryptedStore(layout(dataDir).store, root.key);
  root.key.fill(0);
  const updater = new AgentUpdater({ store, slots, agentVersion: AGENT_VERSION, now: () => new Date() });
  const prepared = await updater.prepareLocal(bundle);
  const installed = await updater.install(prepared);
  if (v.json === true) io.out(`${JSON.stringify({ installed: installed.version, slot: installed.slot, trial: true })}\n`);
  else
    io.out(
      `Installed ${installed.version} in slot ${installed.slot}. Restart the service (systemctl restart sightline-agent) to boot it on trial; it is committed once it reports healthy.\n`,
    );
  return 0;
}

import { createHash } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { z } from 'zod';
import { appsApi, deviceViews } from '@sightline/protocol';
import { CliError, EXIT } from '../errors.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { printFields, printJson, printLine, printTable } from '../output/print.js';
import { confirmAction } from '../prompt/prompt.js';
import { intInRange } from './apikey.js';
import { registerDeviceUpdateCommand } from './release.js';

/** Devices as the server lists them. */
const { deviceView, deviceList, provisionResponse, deviceJob: jobView } = deviceViews;
type DeviceView = deviceViews.DeviceView;
const deviceDetail = deviceView.extend({
  certificates: z
    .array(z.object({ serial: z.string(), kind: z.string(), expiresAt: z.string(), revoked: z.boolean(), used: z.boolean() }))
    .default([]),
  /** The appliance's app isolation layers, from its heartbeat (issue 6); null before the first. */
  isolation: appsApi.isolationReport.nullable().optional(),
});
const jobsResponse = z.object({
  jobs: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      status: z.string(),
      message: z.string().nullable(),
      createdAt: z.string(),
      updatedAt: z.string(),
    }),
  ),
});

const devicesPath = (project: string): string => `/api/v1/projects/${seg(project)}/devices`;
const devicePath = (project: string, name: string): string => `${devicesPath(project)}/${seg(name)}`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `k=v` → `['k', 'v']` (the value may hold `=`). */
export function parseTag(value: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`Give tags as KEY=VALUE, e.g. site=store-42 (got ${JSON.stringify(value)}).`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

/** `3725` → `1h 2m`: how long a device has been offline. */
export function duration(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m`;
  return `${Math.max(0, Math.floor(seconds))}s`;
}

function connection(d: DeviceView): string {
  if (d.online) return 'online';
  if (d.lastSeenAt === null) return 'never seen';
  return d.offlineForSeconds === null ? 'offline' : `offline ${duration(d.offlineForSeconds)}`;
}

interface NetworkOptions {
  network?: string;
  ip?: string;
  gateway?: string;
  dns?: string[];
}

/** The network settings from `--network dhcp` or `--ip --gateway --dns`. */
function networkOf(opts: NetworkOptions): { mode: 'dhcp' } | { mode: 'static'; address: string; gateway: string; dns: string[] } {
  const staticGiven = opts.ip !== undefined || opts.gateway !== undefined || opts.dns !== undefined;
  if (opts.network !== undefined && opts.network !== 'dhcp') {
    throw new CliError('USAGE', '--network takes only "dhcp"; for a static address give --ip CIDR --gateway IP --dns IP.', EXIT.USAGE);
  }
  if (!staticGiven) return { mode: 'dhcp' };
  if (opts.network !== undefined) throw new CliError('USAGE', 'Give either --network dhcp or --ip/--gateway/--dns, not both.', EXIT.USAGE);
  if (opts.ip === undefined || opts.gateway === undefined || opts.dns === undefined || opts.dns.length === 0) {
    throw new CliError('USAGE', 'A static address needs all of --ip CIDR (e.g. 10.0.0.5/24), --gateway IP and --dns IP.', EXIT.USAGE);
  }
  return { mode: 'static', address: opts.ip, gateway: opts.gateway, dns: opts.dns };
}

/**
 * Creates the archive file before the device is provisioned: exclusively (never
 * overwriting) and mode 0600, so a bad path fails before the one and only copy
 * of the archive exists.
 */
function createArchiveFile(path: string): number {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    if (code === 'EEXIST')
      throw new CliError(
        'FILE_EXISTS',
        `${path} already exists; refusing to overwrite it. Choose another --out or move the file away.`,
        EXIT.CONFLICT,
      );
    throw new CliError('FILE_UNWRITABLE', `Cannot create ${path}: ${code}.`, EXIT.INVALID, { cause: err });
  }
}

interface ProvisionOptions extends JsonOption, ProjectOption, NetworkOptions {
  ntp?: string[];
  validityMinutes?: number;
  out?: string;
}

const PROVISION_HELP = `
The configuration archive (age format, scrypt passphrase) carries the device's
single-use provisioning certificate and key, the CA, the control plane's URL with
its certificate pinned, and the network settings. The server keeps neither the
archive nor the passphrase: both are shown once. Carry them to the device apart,
then on the device:
  sightline-agent register --archive FILE --data-dir DIR

--dns and --ntp take several values: give NAME before them.

Examples:
  sightline device provision cam-01
  sightline device provision cam-02 --ip 10.0.0.5/24 --gateway 10.0.0.1 --dns 10.0.0.2 --ntp ntp.example.com
  sightline device provision cam-03 --out /media/usb/cam-03.age --json`;

async function provision(ctx: CliContext, name: string, opts: ProvisionOptions): Promise<void> {
  const network = networkOf(opts);
  const path = resolve(opts.out ?? `${name}.sightline-archive.age`);
  const client = ctx.client();
  const fd = createArchiveFile(path);
  let kept = false;
  let res: z.infer<typeof provisionResponse>;
  try {
    res = await client.request('POST', devicesPath(opts.project), {
      body: {
        name,
        network,
        ...(opts.ntp === undefined ? {} : { ntp: opts.ntp }),
        ...(opts.validityMinutes === undefined ? {} : { validityMinutes: opts.validityMinutes }),
      },
      schema: provisionResponse,
    });
    const lost =
      `Device ${name} was provisioned but its archive is lost: deregister it ` +
      `("sightline device deregister ${shellQuote(name)}${projectFlag(opts.project)} --yes") and provision it anew.`;
    const archive = Buffer.from(res.archive, 'base64');
    if (createHash('sha256').update(archive).digest('hex') !== res.archiveSha256.toLowerCase())
      throw new CliError(
        'ARCHIVE_CORRUPT',
        `The archive received does not match the SHA-256 the server recorded. ${lost}`,
        EXIT.UNEXPECTED,
      );
    try {
      writeSync(fd, archive);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error';
      throw new CliError('FILE_UNWRITABLE', `Cannot write ${path}: ${code}. ${lost}`, EXIT.UNEXPECTED, { cause: err });
    }
    kept = true;
  } finally {
    closeSync(fd);
    if (!kept) rmSync(path, { force: true });
  }
  const warning =
    'Neither the archive nor the passphrase can be shown again: the server keeps neither. ' +
    `The archive is single-use and expires at ${res.provisioningExpiresAt}; register the device before then, ` +
    'or deregister it and provision it anew. Keep the passphrase apart from the file.';
  if (opts.json === true) {
    return printJson({
      device: res.device.name,
      project: res.device.project,
      archiveFile: path,
      archiveSha256: res.archiveSha256,
      passphrase: res.passphrase,
      expiresAt: res.provisioningExpiresAt,
      warning,
    });
  }
  printLine(`Provisioned device ${res.device.name}${inProject(res.device.project)}.`);
  printLine(`Archive:    ${path} (mode 0600, SHA-256 ${res.archiveSha256})`);
  printLine(`Passphrase: ${res.passphrase}`);
  printLine(`WARNING: ${warning}`);
  printLine(`On the device: sightline-agent register --archive ${shellQuote(path)} --data-dir /var/lib/sightline-agent`);
}

/** `required (1.2.0)`, `available (1.2.0)`, `up to date`, or `-` when the device has not said. */
function updateText(d: { updateRequired?: boolean | null | undefined; updateAvailable?: string | null | undefined }): string {
  const newer = d.updateAvailable ?? null;
  if (d.updateRequired === true) return newer === null ? 'required' : `required (${newer})`;
  if (newer !== null) return `available (${newer})`;
  return d.updateRequired === false ? 'up to date' : '-';
}

function describeDevice(d: z.infer<typeof deviceDetail>): void {
  const status = (d.status ?? null) as Record<string, unknown> | null;
  printFields([
    ['name', d.name],
    ['project', d.project],
    ['id', d.id],
    ['state', d.state],
    ['connection', connection(d)],
    ['last seen', d.lastSeenAt],
    ['integrity', d.integrity],
    ['agent version', d.agentVersion],
    ['update', updateText(d)],
    ['registered', d.registeredAt],
    ['created', d.createdAt],
    ['tags', Object.entries(d.tags).map(([k, v]) => `${k}=${v}`)],
    ['network', d.network],
    ['status', status],
  ]);
  if (d.isolation !== undefined && d.isolation !== null) {
    const i = d.isolation;
    const layer = (present: boolean, detail: string): string => `${present ? 'present' : 'ABSENT '}  ${detail}`;
    printLine();
    printLine('App isolation on this appliance:');
    printFields([
      ['namespaces (bubblewrap)', layer(i.namespaces.present, i.namespaces.detail)],
      ['Node permission model', layer(i.permissionModel.present, i.permissionModel.detail)],
      ['cgroup quotas', layer(i.cgroups.version !== 'none', `${i.cgroups.version}: ${i.cgroups.detail}`)],
      ['disk quota', layer(i.diskQuota.present, i.diskQuota.detail)],
    ]);
  }
  if (d.certificates.length > 0) {
    printLine();
    printTable(
      d.certificates.map((c) => ({ ...c, revoked: c.revoked ? 'yes' : 'no', used: c.used ? 'yes' : 'no' })),
      ['serial', 'kind', 'expiresAt', 'revoked', 'used'],
    );
  }
}

export function registerDeviceCommands(program: Command, ctx: CliContext): void {
  const device = program
    .command('device')
    .description('appliances: provisioning, listing, tags, deregistration and remote jobs (reboot, shutdown, reset)');

  withProject(
    device
      .command('provision')
      .argument('<name>', 'device name')
      .description('creates a device and writes its encrypted configuration archive; prints the one-time passphrase once'),
  )
    .option('--network <MODE>', 'dhcp (the default); for a static address give --ip, --gateway and --dns instead')
    .option('--ip <CIDR>', 'static IPv4 address with prefix length, e.g. 10.0.0.5/24')
    .option('--gateway <IP>', 'default gateway (with --ip)')
    .option('--dns <IP...>', 'DNS servers, up to 4 (with --ip)')
    .option('--ntp <HOST...>', 'NTP servers, up to 4')
    .option('--validity-minutes <N>', 'how long the archive can be used, 5 to 10080 (server default 60)', intInRange(5, 10080))
    .option('--out <FILE>', 'where to write the archive (default ./NAME.sightline-archive.age); never overwritten')
    .option('--json', 'print {device, archiveFile, archiveSha256, passphrase, expiresAt} as JSON, for scripts')
    .addHelpText('after', PROVISION_HELP)
    .action((name: string, opts: ProvisionOptions) => provision(ctx, name, opts));

  withProject(device.command('list').description("lists a project's devices: state, online or offline for how long, integrity, agent"))
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const res = await ctx.client().request('GET', devicesPath(opts.project), { schema: deviceList });
      if (opts.json === true) return printJson(res);
      printTable(
        res.devices.map((d) => ({
          name: d.name,
          state: d.state,
          connection: connection(d),
          integrity: d.integrity,
          agent: d.agentVersion,
          update: updateText(d),
          tags: Object.entries(d.tags).map(([k, v]) => `${k}=${v}`),
        })),
        ['name', 'state', 'connection', 'integrity', 'agent', 'update', 'tags'],
      );
    });

  withProject(
    device
      .command('describe')
      .argument('<name>', 'device name')
      .description('shows a device: last heartbeat and status, integrity, network, certificates'),
  )
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption) => {
      const d = await ctx.client().request('GET', devicePath(opts.project, name), { schema: deviceDetail.passthrough() });
      if (opts.json === true) return printJson(d);
      describeDevice(d);
    });

  withProject(
    device.command('rename').argument('<name>', 'device name').argument('<new-name>', 'the new name').description('renames a device'),
  )
    .option('--json', 'print the result as JSON')
    .action(async (name: string, newName: string, opts: JsonOption & ProjectOption) => {
      const d = await ctx.client().request('PATCH', devicePath(opts.project, name), { body: { name: newName }, schema: deviceView });
      if (opts.json === true) return printJson(d);
      printLine(`Renamed device ${name} to ${d.name}.`);
    });

  withProject(
    device
      .command('tag')
      .argument('<name>', 'device name')
      .argument('[tags...]', 'KEY=VALUE tags to set')
      .description('sets and removes tags on a device'),
  )
    .option('--remove <KEY>', 'a tag to remove (repeatable)', collect)
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  sightline device tag cam-01 site=store-42 floor=2 --remove temp')
    .action(async (name: string, tags: string[], opts: JsonOption & ProjectOption & { remove?: string[] }) => {
      if (tags.length === 0 && (opts.remove ?? []).length === 0)
        throw new CliError('USAGE', 'Give KEY=VALUE tags to set, --remove KEY, or both.', EXIT.USAGE);
      const set = Object.fromEntries(tags.map(parseTag));
      const d = await ctx.client().request('PATCH', devicePath(opts.project, name), {
        body: { ...(tags.length === 0 ? {} : { tags: set }), removeTags: opts.remove ?? [] },
        schema: deviceView,
      });
      if (opts.json === true) return printJson(d);
      const now = Object.entries(d.tags).map(([k, v]) => `${k}=${v}`);
      printLine(`Tags of ${d.name}: ${now.length === 0 ? '(none)' : now.join(' ')}.`);
    });

  withProject(
    device
      .command('deregister')
      .argument('<name>', 'device name')
      .description("revokes all of a device's certificates at once; it then needs a full reset and new provisioning"),
  )
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption & { yes?: boolean }) => {
      await confirmAction({
        yes: opts.yes,
        what: `Deregister device ${name}${inProject(opts.project)}: its certificates are revoked at once, its next request is refused, and it needs a full reset and new provisioning to come back.`,
        typeToConfirm: name,
      });
      const d = await ctx.client().request('POST', `${devicePath(opts.project, name)}/deregister`, { schema: deviceView });
      if (opts.json === true) return printJson(d);
      printLine(`Deregistered device ${d.name}: its certificates are revoked; it needs a full reset and new provisioning.`);
    });

  for (const [kind, what, irreversible] of [
    ['reboot', 'Reboot device', false],
    ['shutdown', 'Shut down device', false],
    ['reset', 'Fully reset device', true],
  ] as const) {
    const description = {
      reboot: 'queues a reboot job for a device',
      shutdown: 'queues a shutdown job for a device (someone must power it on again)',
      reset: 'queues a full reset: the device destroys its root key and data (crypto-erase) and its certificates are revoked',
    }[kind];
    const consequence = {
      reboot: 'its apps stop until it is back.',
      shutdown: 'it stays off until someone powers it on.',
      reset:
        'it destroys its root key and all its data (crypto-erase), its certificates are revoked, and it must be provisioned anew. This cannot be undone.',
    }[kind];
    withProject(device.command(kind).argument('<name>', 'device name').description(description))
      .option('--yes', 'do not ask for confirmation (required without a terminal)')
      .option('--json', 'print the result as JSON')
      .addHelpText('after', `\nExample:\n  sightline device ${kind} cam-01 --yes\n  sightline device jobs cam-01`)
      .action(async (name: string, opts: JsonOption & ProjectOption & { yes?: boolean }) => {
        await confirmAction({
          yes: opts.yes,
          what: `${what} ${name}${inProject(opts.project)}: ${consequence}`,
          ...(irreversible ? { typeToConfirm: name } : {}),
        });
        const job = await ctx.client().request('POST', `${devicePath(opts.project, name)}/${kind}`, { schema: jobView });
        if (opts.json === true) return printJson(job);
        printLine(
          `Queued ${kind} job ${job.id} for device ${job.device}; follow it with "sightline device jobs ${shellQuote(name)}${projectFlag(opts.project)}".`,
        );
      });
  }

  withProject(
    device.command('jobs').argument('<name>', 'device name').description("lists a device's jobs, newest first, with their progress"),
  )
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption) => {
      const res = await ctx.client().request('GET', `${devicePath(opts.project, name)}/jobs`, { schema: jobsResponse });
      if (opts.json === true) return printJson(res);
      if (res.jobs.length === 0) return printLine(`Device ${name} has no jobs.`);
      printTable(res.jobs, ['id', 'kind', 'status', 'message', 'createdAt', 'updatedAt']);
    });

  registerDeviceUpdateCommand(device, ctx);
}

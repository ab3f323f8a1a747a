import { Option, type Command } from 'commander';
import { z } from 'zod';
import { assertNoCredentialsInUrl, ValidationError } from '@sightline/protocol';
import { CliError, EXIT } from '../errors.js';
import { readTextFile } from '../files.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { notice, printFields, printJson, printLine, printable, printTable } from '../output/print.js';
import { confirmAction, isInteractive, promptHidden, readSecretLines } from '../prompt/prompt.js';
import { parseTag } from './device.js';

/** A camera as the server shows it: never its credentials, only where they are stored. */
const cameraView = z.object({
  id: z.string(),
  project: z.string(),
  name: z.string(),
  url: z.string(),
  scheme: z.string(),
  description: z.string(),
  tags: z.record(z.string(), z.string()),
  state: z.enum(['active', 'paused']),
  credentials: z.string(),
  secret: z.string().nullable(),
  tlsCa: z.object({ certificates: z.number(), subject: z.string(), sha256: z.string(), notAfter: z.string() }).nullable(),
  warnings: z.array(z.object({ code: z.string(), message: z.string() })),
  createdAt: z.string(),
  updatedAt: z.string(),
  createdBy: z.string(),
});
type CameraView = z.infer<typeof cameraView>;
const cameraDetail = cameraView.extend({ boundDevices: z.number().optional() });

/** The server's cap on a CA bundle for one camera. */
const MAX_TLS_CA_BYTES = 16 * 1024;

const camerasPath = (project: string): string => `/api/v1/projects/${seg(project)}/cameras`;
const cameraPath = (project: string, name: string): string => `${camerasPath(project)}/${seg(name)}`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const usage = (message: string): CliError => new CliError('USAGE', message, EXIT.USAGE);

interface CredentialOptions {
  username?: string;
  passwordStdin?: boolean;
  /** Refused: a password never comes from the command line. */
  password?: string;
}

interface SourceOptions extends CredentialOptions {
  url?: string;
  tlsCa?: string | false;
  description?: string;
  tag?: string[];
}

/**
 * Checks the URL before it leaves this machine: credentials in it are refused
 * here (as the server would, CREDENTIALS_IN_URL, exit 7), so they are not even
 * sent. Everything else (schemes, file URLs) the server decides.
 */
function checkUrl(url: string): string {
  try {
    assertNoCredentialsInUrl('--url', url);
  } catch (err) {
    if (err instanceof ValidationError && err.code === 'CREDENTIALS_IN_URL')
      throw new CliError('CREDENTIALS_IN_URL', err.message, EXIT.INVALID);
  }
  return url;
}

/** `--username U --password-stdin`: the password from a hidden prompt on a terminal, else the first line of stdin. */
async function readCredentials(opts: CredentialOptions, camera: string): Promise<{ username: string; password: string } | undefined> {
  if (opts.password !== undefined) {
    throw new CliError(
      'SECRET_ON_COMMAND_LINE',
      'A camera password is never taken on the command line (the shell history and the process list would keep it): ' +
        'give --username USER --password-stdin and pipe the password in, e.g. printf %s "$PW" | sightline camera create NAME --url URL --username USER --password-stdin.',
      EXIT.USAGE,
    );
  }
  if (opts.username === undefined && opts.passwordStdin !== true) return undefined;
  if (opts.username === undefined) throw usage('--password-stdin goes with --username USER.');
  if (opts.passwordStdin !== true)
    throw usage('--username needs --password-stdin: the password is read from stdin, never taken on the command line.');
  if (opts.username === '') throw usage('--username must not be empty.');
  const [password = ''] = isInteractive()
    ? [await promptHidden(`Password for ${opts.username} (camera ${camera}): `)]
    : await readSecretLines(1, 'the camera password');
  if (password === '') throw new CliError('VALUE_EMPTY', 'The password is empty.', EXIT.INVALID);
  return { username: opts.username, password };
}

/** Warnings go to stderr as plain lines, so stdout stays clean for --json. */
function warn(c: CameraView): void {
  for (const w of c.warnings) notice(printable(`warning ${w.code}: camera ${c.name}: ${w.message}`));
}

function describeCamera(c: z.infer<typeof cameraDetail>): void {
  printFields([
    ['name', c.name],
    ['project', c.project],
    ['url', c.url],
    ['state', c.state],
    ['credentials', c.credentials],
    [
      'tls ca',
      c.tlsCa === null
        ? null
        : `${c.tlsCa.subject} (SHA-256 ${c.tlsCa.sha256}, ${c.tlsCa.certificates} certificate(s), expires ${c.tlsCa.notAfter})`,
    ],
    ['description', c.description],
    ['tags', Object.entries(c.tags).map(([k, v]) => `${k}=${v}`)],
    ['devices', c.boundDevices ?? null],
    ['warnings', c.warnings.map((w) => w.code)],
    ['created', `${c.createdAt} by ${c.createdBy}`],
    ['updated', c.updatedAt],
  ]);
  for (const w of c.warnings) printLine(printable(`WARNING ${w.code}: ${w.message}`));
}

const CREATE_HELP = `
The URL names the stream only: rtsps://host:322/path (preferred: encrypted),
rtsp://host:554/path (accepted with a warning: the stream and the credentials
cross the network in clear) or file:///path/clip.mp4 (tests and simulators).
It must not carry credentials: a URL with user:password@ or a password/token
parameter is refused (CREDENTIALS_IN_URL). Give them with --username and
--password-stdin instead; they are stored in the secrets store as the secret
camera-NAME, which only a device running an app that uses this camera may read.

Examples:
  printf %s "$PW" | sightline camera create lobby --url rtsps://10.0.0.5:322/stream1 --username viewer --password-stdin --tls-ca lobby-ca.pem
  sightline camera create sim --url file:///var/lib/sightline/clips/lobby.mp4`;

const MAX_PEM_BYTES = 64 * 1024;

const SIMULATE_HELP = `
Engines: gstreamer is Debian's GStreamer RTSP server (python3-gi,
gir1.2-gst-rtsp-server-1.0 and the plugins); builtin is Sightline's own
RTSP/RTSPS server, which needs only Node and an ffmpeg (Debian's, or the
static one npm installs). auto, the default, uses GStreamer where it runs.

Examples:
  sightline camera simulate packages/agent/test/fixtures/video/pan-messi.mp4 --port 8554
  sightline camera simulate clip.mp4 --engine builtin
  printf %s "$PW" | sightline camera simulate clip.mp4 --username viewer --tls-cert cam.pem --tls-key cam-key.pem`;

const SIMULATOR_ENGINES = ['auto', 'gstreamer', 'builtin'] as const;

interface SimulateOptions {
  port?: number;
  host: string;
  path: string;
  username?: string;
  tlsCert?: string;
  tlsKey?: string;
  engine: (typeof SIMULATOR_ENGINES)[number];
  json?: boolean;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new CliError('INPUT_INVALID', `--port must be 1-65535, not ${value}.`, EXIT.USAGE);
  return n;
}

function readTlsCa(path: string): string {
  return readTextFile(path, 'the camera CA certificate', MAX_TLS_CA_BYTES);
}

export function registerCameraCommands(program: Command, ctx: CliContext): void {
  const camera = program
    .command('camera')
    .description('cameras (data sources): stream URLs without credentials, credentials in the secrets store, pause and resume');

  withProject(
    camera
      .command('create')
      .argument('<name>', 'camera name')
      .description('creates a camera; credentials (--username, --password-stdin) go to the secrets store as secret camera-NAME'),
  )
    .requiredOption('--url <URL>', 'rtsps://, rtsp:// or file:// URL, without credentials')
    .option('--username <USER>', 'the camera user name; the password comes from --password-stdin')
    .option('--password-stdin', 'read the camera password from the first line of stdin (on a terminal: asked for, without echo)')
    .option('--tls-ca <FILE>', 'a PEM CA certificate the appliance should trust for an rtsps:// camera')
    .option('--description <TEXT>', 'what the camera shows (no personal data)')
    .option('--tag <KEY=VALUE>', 'a tag (repeatable)', collect)
    .option('--json', 'print the camera as JSON')
    .addOption(new Option('--password <PASSWORD>').hideHelp())
    .addHelpText('after', CREATE_HELP)
    .action(async (name: string, opts: SourceOptions & JsonOption & ProjectOption & { url: string; tlsCa?: string }) => {
      const url = checkUrl(opts.url);
      const credentials = await readCredentials(opts, name);
      const c = await ctx.client().request('POST', camerasPath(opts.project), {
        body: {
          name,
          url,
          ...(opts.description === undefined ? {} : { description: opts.description }),
          ...(opts.tag === undefined ? {} : { tags: Object.fromEntries(opts.tag.map(parseTag)) }),
          ...(credentials === undefined ? {} : credentials),
          ...(opts.tlsCa === undefined ? {} : { tlsCaPem: readTlsCa(opts.tlsCa) }),
        },
        schema: cameraView,
      });
      warn(c);
      if (opts.json === true) return printJson(c);
      printLine(`Created camera ${c.name}${inProject(c.project)} (${c.scheme}); credentials: ${c.credentials}.`);
    });

  withProject(camera.command('list').description("lists a project's cameras: state, URL, where the credentials are, warnings"))
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const res = await ctx.client().request('GET', camerasPath(opts.project), { schema: z.object({ cameras: z.array(cameraView) }) });
      if (opts.json === true) return printJson(res);
      if (res.cameras.length === 0)
        return printLine(`No cameras${inProject(opts.project)}; add one with "sightline camera create NAME --url URL".`);
      printTable(
        res.cameras.map((c) => ({
          name: c.name,
          state: c.state,
          url: c.url,
          credentials: c.secret === null ? 'none' : `secret ${c.secret}`,
          warnings: c.warnings.map((w) => w.code),
        })),
        ['name', 'state', 'url', 'credentials', 'warnings'],
      );
      const warned = res.cameras.filter((c) => c.warnings.some((w) => w.code === 'RTSP_UNENCRYPTED')).map((c) => c.name);
      if (warned.length > 0) {
        printLine();
        printLine(
          printable(
            `RTSP_UNENCRYPTED (${warned.join(', ')}): plain rtsp:// sends the stream and the credentials in clear; prefer rtsps://.`,
          ),
        );
      }
    });

  withProject(
    camera
      .command('describe')
      .argument('<name>', 'camera name')
      .description('shows a camera: URL, state, where its credentials are stored, warnings'),
  )
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption) => {
      const c = await ctx.client().request('GET', cameraPath(opts.project, name), { schema: cameraDetail });
      if (opts.json === true) return printJson(c);
      describeCamera(c);
    });

  withProject(
    camera
      .command('update')
      .argument('<name>', 'camera name')
      .description('changes a camera: URL, description, tags, CA; --username with --password-stdin rotates its credentials'),
  )
    .option('--url <URL>', 'a new rtsps://, rtsp:// or file:// URL, without credentials')
    .option('--username <USER>', 'new credentials: the user name; the password comes from --password-stdin')
    .option('--password-stdin', 'read the new password from the first line of stdin')
    .option('--remove-credentials', "delete the camera's credentials (its secret)")
    .option('--tls-ca <FILE>', 'a PEM CA certificate to trust for rtsps://')
    .option('--no-tls-ca', 'drop the CA')
    .option('--description <TEXT>', 'a new description')
    .option('--tag <KEY=VALUE>', 'a tag to set (repeatable)', collect)
    .option('--remove-tag <KEY>', 'a tag to remove (repeatable)', collect)
    .option('--json', 'print the camera as JSON')
    .addOption(new Option('--password <PASSWORD>').hideHelp())
    .action(
      async (name: string, opts: SourceOptions & JsonOption & ProjectOption & { removeCredentials?: boolean; removeTag?: string[] }) => {
        const credentials = await readCredentials(opts, name);
        if (credentials !== undefined && opts.removeCredentials === true)
          throw usage('Give new credentials or --remove-credentials, not both.');
        const body = {
          ...(opts.url === undefined ? {} : { url: checkUrl(opts.url) }),
          ...(opts.description === undefined ? {} : { description: opts.description }),
          ...(opts.tag === undefined ? {} : { tags: Object.fromEntries(opts.tag.map(parseTag)) }),
          ...(opts.removeTag === undefined ? {} : { removeTags: opts.removeTag }),
          ...(credentials === undefined ? {} : credentials),
          ...(opts.removeCredentials === true ? { removeCredentials: true } : {}),
          ...(opts.tlsCa === undefined ? {} : { tlsCaPem: opts.tlsCa === false ? null : readTlsCa(opts.tlsCa) }),
        };
        if (Object.keys(body).length === 0)
          throw usage('Nothing to change: give --url, --description, --tag, --remove-tag, credentials or --tls-ca.');
        const c = await ctx.client().request('PATCH', cameraPath(opts.project, name), { body, schema: cameraView });
        warn(c);
        if (opts.json === true) return printJson(c);
        printLine(
          `Updated camera ${c.name}${inProject(c.project)}${credentials === undefined ? '' : `; new credentials stored in secret ${c.secret ?? ''}`}.`,
        );
      },
    );

  for (const [verb, description] of [
    ['pause', 'pauses a camera: apps stop reading it until it is resumed'],
    ['resume', 'resumes a paused camera'],
  ] as const) {
    withProject(camera.command(verb).argument('<name>', 'camera name').description(description))
      .option('--json', 'print the camera as JSON')
      .action(async (name: string, opts: JsonOption & ProjectOption) => {
        const c = await ctx.client().request('POST', `${cameraPath(opts.project, name)}/${verb}`, { schema: cameraView });
        if (opts.json === true) return printJson(c);
        printLine(`Camera ${c.name}${inProject(c.project)} is ${c.state}.`);
      });
  }

  camera
    .command('simulate')
    .argument('<file>', 'an MP4 clip with an H.264 track (baseline or main profile), looped')
    .description(
      "serves a clip as an RTSP (or RTSPS) camera until Ctrl-C: for testing apps without a camera (GStreamer's RTSP server, or the built-in one)",
    )
    .option('--port <PORT>', 'port to listen on (default: a free one; the URL says which)', parsePort)
    .option('--host <HOST>', 'address to listen on', '127.0.0.1')
    .option('--path <PATH>', 'stream path', '/stream')
    .option('--username <USER>', 'require Digest credentials; the password comes from the first line of stdin')
    .option('--tls-cert <FILE>', 'serve RTSPS with this PEM certificate (needs --tls-key)')
    .option('--tls-key <FILE>', 'PEM private key for --tls-cert')
    .addOption(new Option('--engine <ENGINE>', 'which RTSP server serves the clip').choices(SIMULATOR_ENGINES).default('auto'))
    .option('--json', 'print {url, pid, engine} as JSON once the camera is up')
    .addHelpText('after', SIMULATE_HELP)
    .action(async (file: string, opts: SimulateOptions) => {
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        throw new CliError('INPUT_INVALID', 'Give --tls-cert and --tls-key together (RTSPS needs both).', EXIT.USAGE);
      }
      if (!opts.path.startsWith('/') || opts.path.length > 200)
        throw new CliError('INPUT_INVALID', '--path must start with / (at most 200 characters).', EXIT.USAGE);
      const password = opts.username === undefined ? undefined : (await readSecretLines(1, 'the camera password'))[0];
      // Loaded only here: the simulator lives with the agent's camera code.
      const { startCameraSimulator, probeGstreamer } = await import('@sightline/agent');
      if (opts.engine === 'gstreamer') {
        const probe = await probeGstreamer();
        if (!probe.ok)
          throw new CliError(
            'DEPENDENCY_MISSING',
            `Cannot simulate a camera with GStreamer: ${probe.reason}; or use --engine builtin.`,
            EXIT.UNEXPECTED,
          );
      }
      const sim = await startCameraSimulator({
        file,
        engine: opts.engine,
        host: opts.host,
        path: opts.path,
        ...(opts.port === undefined ? {} : { port: opts.port }),
        ...(opts.tlsCert === undefined || opts.tlsKey === undefined
          ? {}
          : {
              tls: {
                certPem: readTextFile(opts.tlsCert, 'the TLS certificate', MAX_PEM_BYTES),
                keyPem: readTextFile(opts.tlsKey, 'the TLS key', MAX_PEM_BYTES),
              },
            }),
        ...(opts.username === undefined || password === undefined ? {} : { credentials: { username: opts.username, password } }),
      });
      if (opts.json === true) printJson({ url: sim.url, pid: sim.pid, engine: sim.engine });
      else {
        const engine = sim.engine === 'builtin' ? 'built-in RTSP server' : 'GStreamer RTSP server';
        printLine(
          `Camera simulator (${engine}) serving ${file} at ${sim.url}${opts.username === undefined ? '' : ` (Digest, user ${opts.username})`}.`,
        );
        printLine(
          `Register it with: sightline camera create NAME --url ${sim.url}${opts.username === undefined ? '' : ` --username ${opts.username} --password-stdin`}`,
        );
        printLine('Ctrl-C stops it.');
      }
      const stop = (): void => void sim.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await sim.exited;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });

  withProject(
    camera
      .command('rm')
      .alias('delete')
      .argument('<name>', 'camera name')
      .description('deletes a camera and its credentials secret (refused while an app on a device uses it)'),
  )
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption & { yes?: boolean }) => {
      await confirmAction({
        yes: opts.yes,
        what: `Delete camera ${name}${inProject(opts.project)} and its stored credentials (secret camera-${name}).`,
      });
      await ctx.client().request('DELETE', cameraPath(opts.project, name), { schema: z.object({ ok: z.literal(true) }) });
      if (opts.json === true) return printJson({ deleted: name, project: opts.project });
      printLine(
        `Deleted camera ${name}${inProject(opts.project)} and its credentials; "sightline camera list${projectFlag(opts.project)}" shows the rest.`,
      );
    });
}

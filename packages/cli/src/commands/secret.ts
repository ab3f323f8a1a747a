import { readFileSync, statSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { secretViews } from '@sightline/protocol';
import { ApiError, CliError, EXIT } from '../errors.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { printFields, printJson, printLine, printable, printTable } from '../output/print.js';
import { confirmAction, isInteractive, promptHidden, readSecretLines, readStdinBytes } from '../prompt/prompt.js';

/** A secret as the server shows it: metadata only, never the value. */
const { secretView } = secretViews;
type SecretView = secretViews.SecretView;
type SecretValue = string | Record<string, string>;
const valueResponse = z.object({
  name: z.string(),
  version: z.number(),
  value: z.union([z.string(), z.record(z.string(), z.string())]),
});

/** The server's cap on a value (as JSON); the CLI reads no more than this from stdin or a file. */
const MAX_VALUE_BYTES = 64 * 1024;

const secretsPath = (project: string): string => `/api/v1/projects/${seg(project)}/secrets`;
const secretPath = (project: string, name: string): string => `${secretsPath(project)}/${seg(name)}`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);
const keyLabel = (s: SecretView): string => (s.kmsKey.managedBy === 'service' ? 'service secrets key' : (s.kmsKey.name ?? s.kmsKey.id));

interface ValueOptions {
  valueStdin?: boolean;
  file?: string;
  username?: string;
  passwordStdin?: boolean;
  /** Refused: values never come from the command line. */
  value?: string;
  password?: string;
}

const usage = (message: string): CliError => new CliError('USAGE', message, EXIT.USAGE);

const ON_COMMAND_LINE =
  'Secret values are never taken on the command line (they would end up in the shell history and in the process list ' +
  'that other users can read). Pipe the value in with --value-stdin (e.g. printf %s "$VALUE" | sightline secret create NAME --value-stdin), ' +
  'give a file with --file FILE, or for camera credentials --username USER --password-stdin.';

/** One trailing line ending (`echo value | …`, a file saved by an editor) is not part of the value. */
function withoutFinalNewline(bytes: Buffer): Buffer {
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0a) {
    const cut = bytes.length > 1 && bytes[bytes.length - 2] === 0x0d ? 2 : 1;
    return bytes.subarray(0, bytes.length - cut);
  }
  return bytes;
}

function utf8Value(bytes: Buffer, from: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CliError('VALUE_INVALID', `The value from ${from} is not UTF-8 text; encode binary data first (e.g. base64).`, EXIT.INVALID);
  }
  if (text === '') throw new CliError('VALUE_EMPTY', `The value from ${from} is empty.`, EXIT.INVALID);
  return text;
}

function readValueFile(path: string): Buffer {
  try {
    if (statSync(path).size > MAX_VALUE_BYTES)
      throw new CliError(
        'FILE_TOO_LARGE',
        `${path} is larger than ${MAX_VALUE_BYTES} bytes, the most a secret value may be.`,
        EXIT.INVALID,
      );
    return readFileSync(path);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      'FILE_UNREADABLE',
      `Cannot read the value from ${path}: ${(err as { code?: string }).code ?? 'error'}.`,
      EXIT.INVALID,
      {
        cause: err,
      },
    );
  }
}

/**
 * The value from exactly one source: stdin, a file, or a user name with the
 * password on stdin. On a terminal, "stdin" is a hidden prompt (what is typed
 * is not echoed).
 */
async function readValue(opts: ValueOptions, name: string): Promise<SecretValue> {
  if (opts.value !== undefined || opts.password !== undefined) throw new CliError('SECRET_ON_COMMAND_LINE', ON_COMMAND_LINE, EXIT.USAGE);
  const sources = [opts.valueStdin === true, opts.file !== undefined, opts.username !== undefined || opts.passwordStdin === true];
  const count = sources.filter(Boolean).length;
  if (count === 0)
    throw usage('Give the value with --value-stdin (pipe it in), --file FILE, or --username USER --password-stdin for camera credentials.');
  if (count > 1) throw usage('Give the value one way only: --value-stdin, --file FILE, or --username USER --password-stdin.');
  if (opts.username !== undefined || opts.passwordStdin === true) {
    if (opts.username === undefined) throw usage('--password-stdin goes with --username USER (camera credentials).');
    if (opts.passwordStdin !== true)
      throw usage('--username needs --password-stdin: the password is read from stdin, never taken on the command line.');
    const username = opts.username;
    if (username === '') throw usage('--username must not be empty.');
    const [password = ''] = isInteractive()
      ? [await promptHidden(`Password for ${username} (secret ${name}): `)]
      : await readSecretLines(1, 'the password');
    if (password === '') throw new CliError('VALUE_EMPTY', 'The password is empty.', EXIT.INVALID);
    return { username, password };
  }
  if (opts.file !== undefined) return utf8Value(withoutFinalNewline(readValueFile(opts.file)), opts.file);
  if (isInteractive()) return utf8Value(Buffer.from(await promptHidden(`Value of secret ${name}: `)), 'the prompt');
  return utf8Value(withoutFinalNewline(await readStdinBytes(MAX_VALUE_BYTES)), 'stdin');
}

/** The value options, shared by create and rotate; --value and --password exist only to be refused clearly. */
function valueOptions(cmd: Command): Command {
  return cmd
    .option('--value-stdin', 'read the value from stdin (on a terminal: asked for, without echo)')
    .option('--file <FILE>', 'read the value from a file (up to 64 KiB of UTF-8 text)')
    .option('--username <USER>', 'camera credentials: the user name; the password comes from --password-stdin')
    .option('--password-stdin', 'camera credentials: read the password from the first line of stdin')
    .addOption(new Option('--value <VALUE>').hideHelp())
    .addOption(new Option('--password <PASSWORD>').hideHelp());
}

const VALUE_HELP = `
Values come from stdin or a file, never from the command line (where the
shell history and the process list would keep them). One final line ending
is dropped. Camera credentials are stored as {"username", "password"}.`;

const CREATE_HELP = `${VALUE_HELP}

Examples:
  printf %s "$API_TOKEN" | sightline secret create vendor-token --value-stdin
  sightline secret create tls-pass --file ./pass.txt --description "TLS key passphrase"
  printf '%s\\n' "$CAM_PW" | sightline secret create cam-01-rtsp --username viewer --password-stdin --kms-key cameras`;

const GET_HELP = `
The value is printed to stdout only, and only with --reveal. Piped, a text
value is printed exactly as stored (no newline added); camera credentials as
"username: …" and "password: …" lines (or use --json).
Reading a value needs a person's session signed in with a TOTP code (MFA):
API keys never read values. Every read is recorded in the audit trail.

Example:
  sightline secret get cam-01-rtsp --reveal --json`;

function mfaMessage(ctx: CliContext): string {
  const fix =
    ctx.env['SIGHTLINE_TOKEN'] !== undefined && ctx.env['SIGHTLINE_TOKEN'] !== ''
      ? 'SIGHTLINE_TOKEN is set: unset it, sign in with "sightline login" (password and TOTP code), and run the command again.'
      : 'Sign in again with "sightline login" (password and TOTP code) and run the command again.';
  return `Secret values are shown only to a person whose session was signed in with a TOTP code (MFA), never to an API key or a session without MFA. ${fix}`;
}

/** A value for the terminal: control characters escaped, except line breaks and tabs. */
const forTerminal = (text: string): string =>
  text
    .split('\n')
    .map((line) => line.split('\t').map(printable).join('\t'))
    .join('\n');

function printValue(value: SecretValue): void {
  const tty = process.stdout.isTTY === true;
  if (typeof value === 'string') {
    process.stdout.write(tty ? `${forTerminal(value)}\n` : value);
    return;
  }
  const width = Math.max(...Object.keys(value).map((k) => k.length));
  for (const [k, v] of Object.entries(value)) process.stdout.write(`${`${k}:`.padEnd(width + 1)} ${tty ? forTerminal(v) : v}\n`);
}

export function registerSecretCommands(program: Command, ctx: CliContext): void {
  const secret = program
    .command('secret')
    .description('the secrets store (camera credentials first): values sealed at rest, read only with --reveal and an MFA sign-in');

  valueOptions(
    withProject(
      secret
        .command('create')
        .argument('<name>', 'secret name')
        .description('stores a secret, encrypted under its own data key (the service secrets key, or --kms-key)'),
    ),
  )
    .option('--description <TEXT>', 'what the secret is for')
    .option('--kms-key <KEY>', 'a customer-managed key of the project to encrypt it under (default: the service secrets key)')
    .option('--json', 'print the result as JSON (never the value)')
    .addHelpText('after', CREATE_HELP)
    .action(async (name: string, opts: ValueOptions & JsonOption & ProjectOption & { description?: string; kmsKey?: string }) => {
      const value = await readValue(opts, name);
      const s = await ctx.client().request('POST', secretsPath(opts.project), {
        body: {
          name,
          value,
          ...(opts.description === undefined ? {} : { description: opts.description }),
          ...(opts.kmsKey === undefined ? {} : { kmsKey: opts.kmsKey }),
        },
        schema: secretView,
      });
      if (opts.json === true) return printJson(s);
      printLine(`Created secret ${s.name}${inProject(s.project)} (version ${s.version}, encrypted under ${keyLabel(s)}).`);
    });

  withProject(secret.command('list').description("lists a project's secrets (never their values)"))
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const res = await ctx.client().request('GET', secretsPath(opts.project), { schema: secretViews.secretList });
      if (opts.json === true) return printJson(res);
      printTable(
        res.secrets.map((s) => ({ ...s, key: keyLabel(s), rotated: s.rotatedAt })),
        ['name', 'version', 'key', 'rotated', 'description'],
      );
    });

  withProject(
    secret.command('describe').argument('<name>', 'secret name').description('shows a secret: version, key, dates (never the value)'),
  )
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption) => {
      const s = await ctx.client().request('GET', secretPath(opts.project, name), { schema: secretView });
      if (opts.json === true) return printJson(s);
      printFields([
        ['name', s.name],
        ['project', s.project],
        ['description', s.description],
        ['version', s.version],
        ['key', `${keyLabel(s)} (id ${s.kmsKey.id})`],
        ['created', s.createdAt],
        ['created by', s.createdBy],
        ['rotated', s.rotatedAt],
      ]);
    });

  valueOptions(
    withProject(
      secret
        .command('rotate')
        .argument('<name>', 'secret name')
        .description('stores a new value (version + 1, under a fresh data key); the old value is gone'),
    ),
  )
    .option('--json', 'print the result as JSON (never the value)')
    .addHelpText(
      'after',
      `${VALUE_HELP}\n\nExample:\n  printf '%s\\n' "$NEW_PW" | sightline secret rotate cam-01-rtsp --username viewer --password-stdin`,
    )
    .action(async (name: string, opts: ValueOptions & JsonOption & ProjectOption) => {
      const value = await readValue(opts, name);
      const s = await ctx.client().request('POST', `${secretPath(opts.project, name)}/rotate`, { body: { value }, schema: secretView });
      if (opts.json === true) return printJson(s);
      printLine(`Rotated secret ${s.name}${inProject(s.project)}: now version ${s.version}.`);
    });

  withProject(secret.command('rm').argument('<name>', 'secret name').description('deletes a secret and its sealed value, for good'))
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption & { yes?: boolean }) => {
      await confirmAction({
        yes: opts.yes,
        what: `Delete secret ${name}${inProject(opts.project)}: its value is destroyed and cannot be recovered, and whatever uses it stops working.`,
        typeToConfirm: name,
      });
      await ctx.client().request('DELETE', secretPath(opts.project, name));
      if (opts.json === true) return printJson({ ok: true, deleted: name, project: opts.project });
      printLine(`Deleted secret ${name}${inProject(opts.project)}.`);
    });

  withProject(
    secret
      .command('get')
      .argument('<name>', 'secret name')
      .description('prints a secret value (needs --reveal and a session signed in with MFA; audited)'),
  )
    .option('--reveal', 'print the value in clear text to stdout')
    .option('--json', 'print {name, version, value} as JSON')
    .addHelpText('after', GET_HELP)
    .action(async (name: string, opts: JsonOption & ProjectOption & { reveal?: boolean }) => {
      if (opts.reveal !== true) {
        throw new CliError(
          'REVEAL_REQUIRED',
          `"secret get" prints the value of ${name} in clear text; add --reveal to show it (stdout only; the read is audited). ` +
            `"sightline secret describe ${shellQuote(name)}${projectFlag(opts.project)}" shows everything but the value.`,
          EXIT.USAGE,
        );
      }
      let res: z.infer<typeof valueResponse>;
      try {
        res = await ctx.client().request('POST', `${secretPath(opts.project, name)}/value`, { schema: valueResponse });
      } catch (err) {
        if (err instanceof ApiError && err.code === 'MFA_REQUIRED_FOR_SECRET')
          throw new CliError('MFA_REQUIRED_FOR_SECRET', mfaMessage(ctx), EXIT.AUTH, { cause: err });
        throw err;
      }
      if (opts.json === true) return printJson(res);
      printValue(res.value);
    });
}

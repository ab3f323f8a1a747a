import type { Command } from 'commander';
import { z } from 'zod';
import { generatePackageSigningKey } from '@sightline/core';
import { appsApi } from '@sightline/protocol';
import { CliError, EXIT } from '../errors.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { printJson, printLine, printTable } from '../output/print.js';
import { confirmAction } from '../prompt/prompt.js';
import {
  defaultKeyFile,
  MIN_PASSPHRASE_LENGTH,
  PASSPHRASE_ENV,
  readPassphrase,
  removeKeyFile,
  writePrivateKeyFile,
  type PassphraseOptions,
} from '../packages/signing-key-file.js';

/** A registered signing key: only its public half is on the server. */
export const signingKeyView = z.object({
  name: z.string(),
  keyId: z.string(),
  publicKey: z.string(),
  createdAt: z.string(),
  createdBy: z.string().optional(),
});
const keyResponse = z.object({ key: signingKeyView });
export const keysResponse = z.object({ keys: z.array(signingKeyView) });

export const signingKeysPath = (project: string): string => `/api/v1/projects/${seg(project)}/signing-keys`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);

interface CreateOptions extends JsonOption, ProjectOption, PassphraseOptions {
  out?: string;
}

async function create(ctx: CliContext, name: string, opts: CreateOptions): Promise<void> {
  if (!appsApi.packageName.safeParse(name).success)
    throw new CliError('USAGE', 'A signing key name is lower-case letters, digits and -, at most 63.', EXIT.USAGE);
  const file = opts.out ?? defaultKeyFile(ctx.profiles.dir, opts.project, name);
  const client = ctx.client();
  const passphrase = await readPassphrase(opts, ctx.env, `the new signing key ${name}`, true);
  const generated = generatePackageSigningKey(passphrase);
  // The private key is on disk before the public half is registered: a failed write registers nothing.
  writePrivateKeyFile(file, generated.privateKeyPem);
  let key: z.infer<typeof signingKeyView>;
  try {
    ({ key } = await client.request('POST', signingKeysPath(opts.project), {
      body: { name, publicKey: generated.publicKeyRaw.toString('base64') },
      schema: keyResponse,
    }));
  } catch (err) {
    // Not registered: a key nobody trusts is of no use, and would only be a file to protect.
    removeKeyFile(file);
    throw err;
  }
  if (key.keyId !== generated.keyId)
    throw new CliError('BAD_RESPONSE', `The server registered key id ${key.keyId}, not ${generated.keyId}.`, EXIT.UNEXPECTED);
  if (opts.json === true) return printJson({ ...key, project: opts.project, privateKeyFile: file });
  printLine(`Created signing key ${key.name}${inProject(opts.project)}: key id ${key.keyId}.`);
  printLine(`Private key (encrypted with your passphrase): ${file}`);
  printLine(`Sign a package with: sightline package sign DIR --key ${shellQuote(file)}`);
}

const CREATE_HELP = `
The key pair is made here (Ed25519); only the public half is sent. The private
key is written as PKCS#8 PEM encrypted with a passphrase of at least
${MIN_PASSPHRASE_LENGTH} characters, mode 0600, to --out or
$SIGHTLINE_CONFIG_DIR/signing-keys/PROJECT/NAME.pem. The passphrase is read
from --passphrase-file (first line), ${PASSPHRASE_ENV}, or a hidden prompt.
Keep the file and the passphrase apart; whoever holds both can publish
packages the project trusts.

Examples:
  sightline signing-key create release-2026
  sightline signing-key create ci --out ./ci-signing.pem --passphrase-file ./pass.txt
  sightline package policy set --require-signed-by release-2026,ci`;

export function registerSigningKeyCommands(program: Command, ctx: CliContext): void {
  const signingKey = program
    .command('signing-key')
    .description('package signing keys: make one here, register its public half, list and remove them');

  withProject(
    signingKey
      .command('create')
      .argument('<name>', 'key name (lower-case letters, digits, -)')
      .description('makes an Ed25519 key pair, keeps the encrypted private key here and registers the public key'),
  )
    .option('--out <FILE>', 'where to write the private key (default under the config folder)')
    .option('--passphrase-file <FILE>', `read the passphrase from the first line of FILE (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print the key as JSON')
    .addHelpText('after', CREATE_HELP)
    .action((name: string, opts: CreateOptions) => create(ctx, name, opts));

  withProject(signingKey.command('ls').alias('list').description("lists the project's signing keys (public halves)"))
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const { keys } = await ctx.client().request('GET', signingKeysPath(opts.project), { schema: keysResponse });
      if (opts.json === true) return printJson({ keys });
      if (keys.length === 0)
        return printLine(
          `No signing keys${inProject(opts.project)}; make one with "sightline signing-key create NAME${projectFlag(opts.project)}".`,
        );
      printTable(
        keys.map((k) => ({ name: k.name, key_id: k.keyId, created: k.createdAt, by: k.createdBy })),
        ['name', 'key_id', 'created', 'by'],
      );
    });

  withProject(
    signingKey
      .command('rm')
      .alias('delete')
      .argument('<name>', 'key name')
      .description('removes a public key: packages it signed no longer pass a policy that lists it'),
  )
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption & { yes?: boolean }) => {
      await confirmAction({
        yes: opts.yes,
        what: `Remove signing key ${name}${inProject(opts.project)}: the server forgets its public key.`,
      });
      await ctx.client().request('DELETE', `${signingKeysPath(opts.project)}/${seg(name)}`);
      if (opts.json === true) return printJson({ deleted: name, project: opts.project });
      printLine(`Removed signing key ${name}${inProject(opts.project)}. Its private key file, if you keep one, is untouched.`);
    });
}

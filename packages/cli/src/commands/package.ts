import { join } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { signPackageManifest, verifyPackageManifest } from '@sightline/core';
import type { appsApi } from '@sightline/protocol';
import type { ApiClient } from '../client/api-client.js';
import { ApiError, CliError, EXIT } from '../errors.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { printFields, printJson, printLine, printTable } from '../output/print.js';
import { formatBytes, Progress } from '../output/progress.js';
import {
  buildPackage,
  readPackageDir,
  readSignature,
  verifyPackageFiles,
  writeSignature,
  type BuiltPackage,
  MANIFEST_FILE,
  SIGNATURE_FILE,
} from '../packages/package-dir.js';
import {
  loadKeyFile,
  PASSPHRASE_ENV,
  readPassphrase,
  resolveKeyFile,
  signingError,
  type PassphraseOptions,
} from '../packages/signing-key-file.js';
import { artifactPath, artifactView, progressOption, uploadArtifact, type ProgressOption } from './artifact.js';
import { keysResponse, signingKeysPath } from './signing-key.js';

const packageFileView = z.object({ path: z.string(), bytes: z.number(), sha256: z.string() });
const packageVersionView = z.object({
  name: z.string(),
  version: z.string(),
  kind: z.string(),
  keyId: z.string(),
  signer: z.string().nullable(),
  files: z.union([z.number(), z.array(packageFileView)]),
  bytes: z.number(),
  createdAt: z.string(),
  createdBy: z.string(),
});
type PackageVersionView = z.infer<typeof packageVersionView>;
const versionResponse = z.object({ package: packageVersionView });
const packageResponse = z.object({ name: z.string(), kind: z.string(), versions: z.array(packageVersionView) });
const listResponse = z.object({
  packages: z.array(z.object({ name: z.string(), kind: z.string(), latestVersion: z.string(), versions: z.number() })),
});
const policyFields = z.object({
  requireSignedBy: z.array(z.string()),
  /** The listed keys' ids, resolved by the server when the policy was set. */
  keyIds: z.array(z.string()).optional(),
  updatedAt: z.string().nullish(),
  updatedBy: z.string().nullish(),
});
/** `{ policy: { requireSignedBy } }` or the fields alone. */
const policyResponse = z.union([z.object({ policy: policyFields }).transform((r) => r.policy), policyFields]);

const projectPath = (project: string): string => `/api/v1/projects/${seg(project)}`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);
export const blobName = (sha256: string): string => `packages/blobs/${sha256}`;
const fileCount = (files: PackageVersionView['files']): number => (typeof files === 'number' ? files : files.length);

interface SignOptions extends PassphraseOptions, ProjectOption {
  key: string;
}

/** Checks the files, then signs the manifest's exact bytes into `sightline-package.sig`. */
async function signDir(ctx: CliContext, pkg: BuiltPackage, opts: SignOptions, signal: AbortSignal): Promise<appsApi.PackageSignature> {
  await verifyPackageFiles(pkg, signal);
  const file = resolveKeyFile(opts.key, ctx.profiles.dir, opts.project);
  const key = loadKeyFile(file, await readPassphrase(opts, ctx.env, `the signing key ${file}`));
  let signature: appsApi.PackageSignature;
  try {
    signature = signPackageManifest(pkg.manifestBytes, key);
  } catch (err) {
    throw signingError(err);
  }
  await writeSignature(pkg, signature);
  return signature;
}

/** The signature must verify over the manifest bytes, and every file must match the manifest. */
async function verifyDir(pkg: BuiltPackage, signal: AbortSignal, trustedKeyIds: readonly string[] = []): Promise<appsApi.PackageSignature> {
  const signature = await readSignature(pkg);
  if (signature === undefined) {
    throw new CliError(
      'PACKAGE_UNSIGNED',
      `${pkg.dir} holds no ${SIGNATURE_FILE}; sign it with "sightline package sign ${shellQuote(pkg.dir)} --key KEY_FILE".`,
      EXIT.INVALID,
    );
  }
  try {
    verifyPackageManifest(pkg.manifestBytes, signature, trustedKeyIds);
  } catch (err) {
    throw signingError(err);
  }
  await verifyPackageFiles(pkg, signal);
  return signature;
}

/**
 * Refuses early, before any upload, when the project requires listed signers
 * and this signature is by none of them (the server checks it again). Skipped
 * when the caller may not read the policy or the keys: the server decides.
 */
async function checkSignerTrusted(client: ApiClient, project: string, signature: appsApi.PackageSignature): Promise<void> {
  let required: string[];
  let keyIds: string[];
  try {
    const policy = await client.request('GET', `${projectPath(project)}/package-policy`, { schema: policyResponse });
    required = policy.requireSignedBy;
    if (required.length === 0) return;
    if (policy.keyIds !== undefined) keyIds = policy.keyIds;
    else {
      const { keys } = await client.request('GET', signingKeysPath(project), { schema: keysResponse });
      keyIds = keys.filter((k) => required.includes(k.name)).map((k) => k.keyId);
    }
  } catch (err) {
    if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return;
    throw err;
  }
  if (keyIds.includes(signature.keyId)) return;
  throw new CliError(
    'PACKAGE_SIGNER_UNTRUSTED',
    `The package is signed by key ${signature.keyId}, but project ${project} requires a signature by ${required.join(', ')}; nothing was uploaded. Sign it with one of those keys.`,
    EXIT.VERIFY_FAILED,
    { details: { keyId: signature.keyId } },
  );
}

/** Whether the blob is stored already (same length and hash): content-addressed, so it is uploaded once. */
async function blobStored(client: ApiClient, project: string, f: appsApi.PackageFile): Promise<boolean | 'other'> {
  try {
    const a = await client.request('GET', artifactPath(project, blobName(f.sha256)), { schema: artifactView });
    return a.size === f.bytes && a.sha256 === f.sha256 ? true : 'other';
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return false;
    throw err;
  }
}

interface PushResult {
  package: PackageVersionView;
  uploaded: appsApi.PackageFile[];
  alreadyStored: appsApi.PackageFile[];
  bytesUploaded: number;
}

async function push(client: ApiClient, pkg: BuiltPackage, opts: ProjectOption & ProgressOption, signal: AbortSignal): Promise<PushResult> {
  const signature = await verifyDir(pkg, signal);
  await checkSignerTrusted(client, opts.project, signature);
  // One blob per distinct content, however many paths carry it.
  const blobs = new Map<string, appsApi.PackageFile>();
  for (const f of pkg.manifest.files) if (!blobs.has(f.sha256)) blobs.set(f.sha256, f);
  const uploads: { file: appsApi.PackageFile; overwrite: boolean }[] = [];
  const alreadyStored: appsApi.PackageFile[] = [];
  for (const f of blobs.values()) {
    const stored = await blobStored(client, opts.project, f);
    if (stored === true) alreadyStored.push(f);
    else uploads.push({ file: f, overwrite: stored === 'other' });
  }
  const total = uploads.reduce((n, u) => n + u.file.bytes, 0);
  const progress = new Progress('uploading  ', total, { mode: opts.progress });
  let base = 0;
  try {
    for (const { file: f, overwrite } of uploads) {
      try {
        await uploadArtifact(client, {
          project: opts.project,
          file: join(pkg.dir, f.path),
          name: blobName(f.sha256),
          size: f.bytes,
          sha256: f.sha256,
          overwrite,
          signal,
          onSent: (n) => progress.update(base + n),
        });
      } catch (err) {
        // Another push stored the same content meanwhile: that is the blob wanted.
        if (!(err instanceof ApiError && err.status === 409 && (await blobStored(client, opts.project, f)) === true)) throw err;
      }
      base += f.bytes;
      progress.update(base);
    }
    progress.done();
  } catch (err) {
    progress.fail();
    throw err;
  }
  let view: PackageVersionView;
  try {
    ({ package: view } = await client.request('POST', `${projectPath(opts.project)}/packages`, {
      body: { manifestB64: pkg.manifestBytes.toString('base64'), signature },
      schema: versionResponse,
      signal,
    }));
  } catch (err) {
    // The server's signature checks are verification failures, as they are here.
    if (err instanceof ApiError && (err.code === 'PACKAGE_SIGNER_UNTRUSTED' || err.code === 'PACKAGE_SIGNATURE_INVALID'))
      throw new CliError(err.code, err.message, EXIT.VERIFY_FAILED, {
        cause: err,
        ...(err.details === undefined ? {} : { details: { ...err.details } }),
      });
    throw err;
  }
  return { package: view, uploaded: uploads.map((u) => u.file), alreadyStored, bytesUploaded: total };
}

function describeVersion(v: PackageVersionView): void {
  printFields([
    ['package', `${v.name} ${v.version}`],
    ['kind', v.kind],
    ['signed by', `${v.signer ?? '(no registered key)'} (key id ${v.keyId})`],
    ['files', fileCount(v.files)],
    ['size', `${v.bytes} bytes (${formatBytes(v.bytes)})`],
    ['created', `${v.createdAt} by ${v.createdBy}`],
  ]);
  if (typeof v.files !== 'number')
    printTable(
      v.files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })),
      ['path', 'bytes', 'sha256'],
    );
}

const BUILD_HELP = `
DIR holds descriptor.json. A code package's descriptor (see @sightline/sdk)
names an entry module: it is bundled with the SDK into app.mjs. A model
package's descriptor names an ONNX file, its input (name, shape, layout,
normalisation) and outputs: the folder's files (the model, its licence) are
copied. Every file's length and SHA-256 go into ${MANIFEST_FILE}, which
"package sign" signs and "package push" uploads.

Examples:
  sightline package build examples/privacy-blur --out dist/privacy-blur
  sightline package build examples/privacy-blur/model --out dist/blazeface --sign-with release-2026`;

const PUSH_HELP = `
Checks the signature and every file against the manifest, then uploads each
file the project does not hold yet as artifact packages/blobs/<sha256>
(encrypted at rest; the same file is stored once, whatever package or
version carries it) under one progress bar, and registers the version.
Versions are immutable: pushing the same name and version again is refused.

Examples:
  sightline package push dist/privacy-blur
  sightline package push dist/blazeface --project store-42 --progress plain`;

export function registerPackageCommands(program: Command, ctx: CliContext): void {
  const pkg = program
    .command('package')
    .description('code and model packages: build, sign, push (encrypted, content-addressed), list and describe; the signing policy');

  withProject(
    pkg
      .command('build')
      .argument('<dir>', 'folder holding descriptor.json (a code or a model package)')
      .description('builds a package folder: the files and sightline-package.json with each file’s length and SHA-256'),
  )
    .option('--out <OUTDIR>', 'the package folder to write (default dist/NAME-VERSION); must be new or empty')
    .option('--force', 'replace an earlier build in OUTDIR')
    .option('--sign-with <KEY>', 'also sign it with this private key file (or the name of a key made here)')
    .option('--passphrase-file <FILE>', `the signing key's passphrase (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print the manifest as JSON')
    .addHelpText('after', BUILD_HELP)
    .action((dir: string, opts: JsonOption & ProjectOption & PassphraseOptions & { out?: string; force?: boolean; signWith?: string }) =>
      withInterrupt(async (signal) => {
        const built = await buildPackage(dir, opts.out, { signal, ...(opts.force === undefined ? {} : { force: opts.force }) });
        const signature = opts.signWith === undefined ? undefined : await signDir(ctx, built, { ...opts, key: opts.signWith }, signal);
        if (opts.json === true)
          return printJson({ dir: built.dir, manifest: built.manifest, ...(signature === undefined ? {} : { signature }) });
        const m = built.manifest;
        const bytes = m.files.reduce((n, f) => n + f.bytes, 0);
        printLine(`Built ${m.kind} package ${m.name} ${m.version} in ${built.dir}: ${m.files.length} files, ${formatBytes(bytes)}.`);
        for (const f of m.files) printLine(`  ${f.sha256}  ${f.path} (${f.bytes} bytes)`);
        if (signature !== undefined)
          printLine(`Signed with key id ${signature.keyId}; push it with "sightline package push ${shellQuote(built.dir)}".`);
        else printLine(`Next: sightline package sign ${shellQuote(built.dir)} --key KEY_FILE`);
      }),
    );

  withProject(
    pkg
      .command('sign')
      .argument('<dir>', 'a package folder made by "package build"')
      .requiredOption('--key <FILE>', 'the private key file (or the name of a key made with "signing-key create")')
      .description(`checks the files against the manifest and signs its exact bytes into ${SIGNATURE_FILE}`),
  )
    .option('--passphrase-file <FILE>', `read the key's passphrase from the first line of FILE (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print the signature as JSON')
    .action((dir: string, opts: JsonOption & SignOptions) =>
      withInterrupt(async (signal) => {
        const built = await readPackageDir(dir);
        const signature = await signDir(ctx, built, opts, signal);
        if (opts.json === true) return printJson(signature);
        printLine(
          `Signed ${built.manifest.name} ${built.manifest.version} with key id ${signature.keyId}: ${join(built.dir, SIGNATURE_FILE)}.`,
        );
      }),
    );

  pkg
    .command('verify')
    .argument('<dir>', 'a signed package folder')
    .description('checks the signature over the manifest and every file against it, as the appliance does')
    .option('--trusted-key-id <IDS>', 'comma-separated key ids the signer must be one of', (v: string) =>
      v.split(',').filter((s) => s !== ''),
    )
    .option('--json', 'print the result as JSON')
    .action((dir: string, opts: JsonOption & { trustedKeyId?: string[] }) =>
      withInterrupt(async (signal) => {
        const built = await readPackageDir(dir);
        const signature = await verifyDir(built, signal, opts.trustedKeyId ?? []);
        const { name, version, files } = built.manifest;
        if (opts.json === true) return printJson({ verified: true, name, version, keyId: signature.keyId, files: files.length });
        printLine(`Verified ${name} ${version}: signed by key id ${signature.keyId}; ${files.length} files match the manifest.`);
      }),
    );

  withProject(
    pkg.command('push').argument('<dir>', 'a signed package folder').description('uploads a signed package and registers the version'),
  )
    .addOption(progressOption())
    .option('--json', 'print the result as JSON')
    .addHelpText('after', PUSH_HELP)
    .action((dir: string, opts: JsonOption & ProjectOption & ProgressOption) =>
      withInterrupt(async (signal) => {
        const r = await push(ctx.client(), await readPackageDir(dir), opts, signal);
        if (opts.json === true) return printJson(r);
        const v = r.package;
        printLine(
          `Pushed ${v.kind} package ${v.name} ${v.version}${inProject(opts.project)}, signed by ${v.signer ?? `key id ${v.keyId}`}: ` +
            `uploaded ${r.uploaded.length} file(s), ${formatBytes(r.bytesUploaded)}; ${r.alreadyStored.length} already stored.`,
        );
      }),
    );

  withProject(pkg.command('ls').alias('list').description("lists the project's packages"))
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const { packages } = await ctx.client().request('GET', `${projectPath(opts.project)}/packages`, { schema: listResponse });
      if (opts.json === true) return printJson({ packages });
      if (packages.length === 0) return printLine(`No packages${inProject(opts.project)}.`);
      printTable(
        packages.map((p) => ({ name: p.name, kind: p.kind, latest: p.latestVersion, versions: p.versions })),
        ['name', 'kind', 'latest', 'versions'],
      );
    });

  withProject(
    pkg
      .command('describe')
      .argument('<name>', 'package name')
      .argument('[version]', 'one version, shown with its files')
      .description('shows a package’s versions (kept for good) and who signed each; with VERSION, that version and its files'),
  )
    .option('--json', 'print JSON')
    // `--version` is the program's own flag (it prints the CLI's version), so a version is a positional argument.
    .action(async (name: string, version: string | undefined, opts: JsonOption & ProjectOption) => {
      const client = ctx.client();
      const base = `${projectPath(opts.project)}/packages/${seg(name)}`;
      if (version !== undefined) {
        const { package: v } = await client.request('GET', `${base}/versions/${seg(version)}`, { schema: versionResponse });
        return opts.json === true ? printJson(v) : describeVersion(v);
      }
      const p = await client.request('GET', base, { schema: packageResponse });
      if (opts.json === true) return printJson(p);
      printLine(`${p.name} (${p.kind} package)${inProject(opts.project)}`);
      printTable(
        p.versions.map((v) => ({
          version: v.version,
          signer: v.signer ?? '-',
          key_id: v.keyId,
          files: fileCount(v.files),
          bytes: v.bytes,
          created: v.createdAt,
          by: v.createdBy,
        })),
        ['version', 'signer', 'key_id', 'files', 'bytes', 'created', 'by'],
      );
    });

  const policy = pkg.command('policy').description('which signing keys the project requires on packages it deploys');
  withProject(
    policy
      .command('set')
      .description('requires packages to be signed by one of the listed keys (or, with --any-signer, by any valid signature)'),
  )
    .option('--require-signed-by <KEYS>', 'comma-separated signing-key names', (v: string) => v.split(',').filter((s) => s !== ''))
    .option('--any-signer', 'accept any valid signature (clears the list)')
    .option('--json', 'print the policy as JSON')
    .action(async (opts: JsonOption & ProjectOption & { requireSignedBy?: string[]; anySigner?: boolean }) => {
      if ((opts.requireSignedBy === undefined) === (opts.anySigner !== true))
        throw new CliError('USAGE', 'Give either --require-signed-by KEY1,KEY2 or --any-signer.', EXIT.USAGE);
      const requireSignedBy = opts.requireSignedBy ?? [];
      if (opts.anySigner !== true && requireSignedBy.length === 0)
        throw new CliError('USAGE', '--require-signed-by needs at least one signing-key name (or give --any-signer).', EXIT.USAGE);
      const p = await ctx
        .client()
        .request('PUT', `${projectPath(opts.project)}/package-policy`, { body: { requireSignedBy }, schema: policyResponse });
      if (opts.json === true) return printJson({ policy: p });
      printLine(
        p.requireSignedBy.length === 0
          ? `Project ${opts.project} now accepts packages with any valid signature.`
          : `Project ${opts.project} now deploys only packages signed by ${p.requireSignedBy.join(', ')}.`,
      );
    });
  withProject(policy.command('get').description('shows the signing policy'))
    .option('--json', 'print the policy as JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const p = await ctx.client().request('GET', `${projectPath(opts.project)}/package-policy`, { schema: policyResponse });
      if (opts.json === true) return printJson({ policy: p });
      printLine(
        p.requireSignedBy.length === 0
          ? `Any valid signature${inProject(opts.project)}; restrict it with "sightline package policy set --require-signed-by KEY${projectFlag(opts.project)}".`
          : `Packages${inProject(opts.project)} must be signed by: ${p.requireSignedBy.join(', ')}.`,
      );
    });
}

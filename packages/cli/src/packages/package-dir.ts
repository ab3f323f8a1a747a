import { copyFile, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { z } from 'zod';
import { appsApi } from '@sightline/protocol';
import { hashFile } from '../commands/artifact.js';
import { CliError, EXIT } from '../errors.js';

/**
 * Building a package folder and checking one: the folder `package push`
 * uploads holds the package's files and `sightline-package.json` (the
 * manifest: every file with its length and SHA-256), and after `package sign`
 * also `sightline-package.sig`.
 */

export const MANIFEST_FILE = 'sightline-package.json';
export const SIGNATURE_FILE = 'sightline-package.sig';
export const DESCRIPTOR_FILE = 'descriptor.json';

/** The server takes `manifestB64` up to 2 MiB: about 1.5 MiB of manifest. */
const MAX_MANIFEST_BYTES = 1536 * 1024;
const MAX_DESCRIPTOR_BYTES = 256 * 1024;
const MAX_SIGNATURE_BYTES = 4096;
/** The manifest schema's cap on files. */
const MAX_FILES = 4096;

export interface BuiltPackage {
  /** Absolute path of the package folder. */
  dir: string;
  manifest: appsApi.PackageManifest;
  /** The manifest file's exact bytes: what the signature covers. */
  manifestBytes: Buffer;
}

const invalid = (message: string, path?: string): CliError =>
  new CliError('DESCRIPTOR_INVALID', message, EXIT.INVALID, path === undefined ? undefined : { details: { path } });

const errCode = (err: unknown): string => (err as { code?: string } | null)?.code ?? 'error';

function issueWhere(issue: { path: readonly PropertyKey[] } | undefined): string {
  return issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
}

async function readSmall(file: string, what: string, max: number): Promise<Buffer> {
  let bytes: Buffer;
  try {
    const st = await lstat(file);
    if (!st.isFile()) throw new CliError('FILE_INVALID', `${file} (${what}) is not a regular file.`, EXIT.INVALID);
    if (st.size > max) throw new CliError('FILE_TOO_LARGE', `${file} (${what}) is larger than ${max} bytes.`, EXIT.INVALID);
    bytes = await readFile(file);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError('FILE_UNREADABLE', `Cannot read ${what} from ${file}: ${errCode(err)}.`, EXIT.INVALID, { cause: err });
  }
  return bytes;
}

function parseJson(bytes: Buffer, file: string, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CliError('FILE_INVALID', `${file} (${what}) is not valid JSON.`, EXIT.INVALID, { cause: err });
  }
}

/** Which kind a descriptor describes: a code package names an `entry`, a model package a `file` and an `input`. */
export function descriptorKind(raw: unknown, file: string): appsApi.PackageKind {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    if ('entry' in raw) return 'code';
    if ('file' in raw && 'input' in raw) return 'model';
  }
  throw invalid(
    `${file} is neither a code package descriptor (with "entry", see @sightline/sdk) nor a model package descriptor (with "file" and "input").`,
  );
}

/** Every regular file under `dir` (relative, `/`-separated, sorted), leaving out dot files and `skip`. */
async function listFiles(dir: string, skip: string | undefined): Promise<string[]> {
  const out: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith('.')) continue;
      const full = join(folder, entry.name);
      if (skip !== undefined && (full === skip || full.startsWith(skip + sep))) continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out.push(relative(dir, full).split(sep).join('/'));
      else throw new CliError('FILE_INVALID', `${full} is not a regular file or folder (links are not packaged).`, EXIT.INVALID);
      if (out.length > MAX_FILES) throw new CliError('PACKAGE_TOO_MANY_FILES', `${dir} holds more than ${MAX_FILES} files.`, EXIT.INVALID);
    }
  };
  await walk(dir);
  return out;
}

/** The output folder must be new or empty; `force` clears an earlier build (a folder holding a package manifest). */
async function prepareOut(outDir: string, source: string, force: boolean): Promise<void> {
  if (outDir === source || source.startsWith(outDir + sep))
    throw new CliError('USAGE', `--out ${outDir} would hold the source folder ${source}; choose another folder.`, EXIT.USAGE);
  let entries: string[];
  try {
    entries = await readdir(outDir);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return void (await mkdir(outDir, { recursive: true }));
    throw new CliError('FILE_UNWRITABLE', `Cannot use ${outDir}: ${errCode(err)}.`, EXIT.INVALID, { cause: err });
  }
  if (entries.length === 0) return;
  if (force && entries.includes(MANIFEST_FILE)) {
    await rm(outDir, { recursive: true });
    await mkdir(outDir, { recursive: true });
    return;
  }
  throw new CliError(
    'FILE_EXISTS',
    `${outDir} is not empty; choose another --out${entries.includes(MANIFEST_FILE) ? ', or add --force to replace that earlier build' : ''}.`,
    EXIT.CONFLICT,
  );
}

async function describeFiles(dir: string, paths: readonly string[], signal: AbortSignal): Promise<appsApi.PackageFile[]> {
  const files: appsApi.PackageFile[] = [];
  for (const path of paths) {
    const full = join(dir, path);
    const { size } = await lstat(full);
    files.push({ path, bytes: size, sha256: await hashFile(full, size, 'none', signal) });
  }
  return files;
}

/**
 * Builds a package from `sourceDir` into `outDir`: a code package is bundled
 * with the SDK into `app.mjs` beside its `descriptor.json`; a model package's
 * files (the ONNX file, its licence, …) are copied. Then every file is hashed
 * into `sightline-package.json`.
 *
 * @example
 * ```ts
 * const built = await buildPackage('examples/privacy-blur/model', 'dist/blazeface', { signal });
 * built.manifest.files; // [{ path: 'face_detection_back_256x256_barracuda.onnx', bytes: 603432, sha256: '427c…' }, …]
 * ```
 */
export async function buildPackage(
  sourceDir: string,
  outDir: string | undefined,
  options: { signal: AbortSignal; force?: boolean; now?: Date },
): Promise<BuiltPackage> {
  const source = resolve(sourceDir);
  const descriptorFile = join(source, DESCRIPTOR_FILE);
  const descriptorBytes = await readSmall(descriptorFile, 'the package descriptor', MAX_DESCRIPTOR_BYTES);
  const raw = parseJson(descriptorBytes, descriptorFile, 'the package descriptor');
  const kind = descriptorKind(raw, descriptorFile);
  // Loaded only here: the SDK (and esbuild) are not needed by any other command.
  const schema: z.ZodType<{ name: string; version: string }> =
    kind === 'code' ? (await import('@sightline/sdk')).appDescriptorSchema : appsApi.modelDescriptor;
  const d = schema.safeParse(raw);
  if (!d.success) {
    const where = issueWhere(d.error.issues[0]);
    throw invalid(`${descriptorFile} is invalid at ${where}: ${d.error.issues[0]?.message ?? 'unknown fault'}.`, where);
  }
  const { name, version } = d.data;
  const out = resolve(outDir ?? join('dist', `${name}-${version}`));
  await prepareOut(out, source, options.force === true);
  try {
    return await fillPackage(source, out, { raw, bytes: descriptorBytes, file: descriptorFile, kind, name, version }, options);
  } catch (err) {
    // A failed build leaves no half-made package behind (the folder was new, empty or an earlier build).
    await rm(out, { recursive: true, force: true });
    throw err;
  }
}

/** Fills the prepared, empty `out`: the files, then the manifest over them. */
async function fillPackage(
  source: string,
  out: string,
  descriptor: { raw: unknown; bytes: Buffer; file: string; kind: appsApi.PackageKind; name: string; version: string },
  options: { signal: AbortSignal; now?: Date },
): Promise<BuiltPackage> {
  const { raw, kind, name, version } = descriptor;
  const descriptorFile = descriptor.file;
  const descriptorBytes = descriptor.bytes;
  let paths: string[];
  if (kind === 'code') {
    const { bundleApp, BUNDLE_FILE } = await import('@sightline/sdk/build');
    try {
      await bundleApp(source, out);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new CliError('BUILD_FAILED', `Bundling ${source} failed: ${message}`, EXIT.INVALID, { cause: err });
    }
    await writeFile(join(out, DESCRIPTOR_FILE), descriptorBytes);
    paths = [BUNDLE_FILE, DESCRIPTOR_FILE];
  } else {
    const model = appsApi.modelDescriptor.parse(raw);
    paths = await listFiles(source, out);
    if (!paths.includes(model.file))
      throw invalid(`${descriptorFile} names the model file ${model.file}, which is not in ${source}.`, 'file');
    for (const p of paths) {
      await mkdir(dirname(join(out, p)), { recursive: true });
      await copyFile(join(source, p), join(out, p));
    }
  }
  const files = await describeFiles(out, paths.sort(), options.signal);
  const manifest = appsApi.packageManifest.parse({
    v: appsApi.PACKAGE_MANIFEST_VERSION,
    kind,
    name,
    version,
    descriptor: raw,
    files,
    createdAt: (options.now ?? new Date()).toISOString(),
  });
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  if (manifestBytes.length > MAX_MANIFEST_BYTES)
    throw new CliError('PACKAGE_TOO_LARGE', `The manifest would be larger than ${MAX_MANIFEST_BYTES} bytes.`, EXIT.INVALID);
  await writeFile(join(out, MANIFEST_FILE), manifestBytes, { flag: 'wx' });
  return { dir: out, manifest, manifestBytes };
}

/** Reads a package folder's manifest (exact bytes, parsed and schema-checked). */
export async function readPackageDir(dir: string): Promise<BuiltPackage> {
  const abs = resolve(dir);
  const file = join(abs, MANIFEST_FILE);
  const manifestBytes = await readSmall(file, 'the package manifest', MAX_MANIFEST_BYTES);
  const parsed = appsApi.packageManifest.safeParse(parseJson(manifestBytes, file, 'the package manifest'));
  if (!parsed.success) {
    throw new CliError(
      'PACKAGE_MANIFEST_INVALID',
      `${file} is invalid at ${issueWhere(parsed.error.issues[0])}: ${parsed.error.issues[0]?.message ?? 'unknown fault'}; build the package again.`,
      EXIT.INVALID,
    );
  }
  return { dir: abs, manifest: parsed.data, manifestBytes };
}

/**
 * Checks every file of a package folder against its manifest (length, then
 * SHA-256), fail-closed: a changed, missing or replaced file is refused
 * before anything is signed or uploaded.
 */
export async function verifyPackageFiles(pkg: BuiltPackage, signal: AbortSignal): Promise<void> {
  for (const f of pkg.manifest.files) {
    const full = join(pkg.dir, f.path);
    let size: number;
    try {
      const st = await lstat(full);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (err) {
      throw new CliError(
        'PACKAGE_FILE_MISSING',
        `${f.path} of package ${pkg.manifest.name} is missing from ${pkg.dir}.`,
        EXIT.VERIFY_FAILED,
        {
          cause: err,
          details: { path: f.path },
        },
      );
    }
    const sha256 = size === f.bytes ? await hashFile(full, size, 'none', signal) : undefined;
    if (sha256 !== f.sha256) {
      throw new CliError(
        'PACKAGE_FILE_CHANGED',
        `${f.path} in ${pkg.dir} is not the file the manifest lists (${size === f.bytes ? 'SHA-256 differs' : `${size} bytes, not ${f.bytes}`}); build (and sign) the package again.`,
        EXIT.VERIFY_FAILED,
        { details: { path: f.path } },
      );
    }
  }
}

/** The signature file of a package folder, schema-checked; undefined when the package is not signed. */
export async function readSignature(pkg: BuiltPackage): Promise<appsApi.PackageSignature | undefined> {
  const file = join(pkg.dir, SIGNATURE_FILE);
  try {
    await lstat(file);
  } catch {
    return undefined;
  }
  const parsed = appsApi.packageSignature.safeParse(
    parseJson(await readSmall(file, 'the package signature', MAX_SIGNATURE_BYTES), file, 'the package signature'),
  );
  if (!parsed.success)
    throw new CliError('PACKAGE_SIGNATURE_INVALID', `${file} is not a package signature; sign the package again.`, EXIT.VERIFY_FAILED);
  return parsed.data;
}

export async function writeSignature(pkg: BuiltPackage, signature: appsApi.PackageSignature): Promise<string> {
  const file = join(pkg.dir, SIGNATURE_FILE);
  await writeFile(file, `${JSON.stringify(signature, null, 2)}\n`);
  return file;
}

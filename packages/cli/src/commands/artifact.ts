import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, linkSync, renameSync, rmSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import type { z } from 'zod';
import { artifactViews } from '@sightline/protocol';
import { cancelled, type ApiClient } from '../client/api-client.js';
import { ApiError, CliError, EXIT } from '../errors.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { printFields, printJson, printLine, printTable } from '../output/print.js';
import { formatBytes, parseProgressMode, Progress, type ProgressMode } from '../output/progress.js';
import { confirmAction } from '../prompt/prompt.js';

export const { artifactView } = artifactViews;
const listResponse = artifactViews.artifactList;

/** Bytes read from disk at a time. */
const READ_CHUNK = 1024 * 1024;
const SHA256_HEADER = 'x-sightline-sha256';

const artifactsPath = (project: string): string => `/api/v1/projects/${seg(project)}/artifacts`;
/** Names hold `/`: each segment is escaped on its own (the server decodes them one by one). */
export const artifactPath = (project: string, name: string): string => `${artifactsPath(project)}/${name.split('/').map(seg).join('/')}`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);

const code = (err: unknown): string => (err as { code?: string } | null)?.code ?? (err instanceof Error ? err.message : 'error');

export interface ProgressOption {
  progress: ProgressMode;
}

export const progressOption = (): Option =>
  new Option('--progress <MODE>', 'auto: a bar on a terminal, a summary otherwise; plain: a line every 10%; none')
    .default('auto')
    .argParser(parseProgressMode);

/** A regular file to upload and its size. */
function uploadSource(file: string): Stats {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (err) {
    throw new CliError('FILE_UNREADABLE', `Cannot read ${file}: ${code(err)}.`, EXIT.INVALID, { cause: err });
  }
  if (!st.isFile()) throw new CliError('FILE_INVALID', `${file} is not a regular file.`, EXIT.INVALID);
  return st;
}

/** First pass: the SHA-256 of the file, streamed (the server wants it before the body). */
export async function hashFile(file: string, size: number, mode: ProgressMode, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const progress = new Progress('hashing    ', size, { mode });
  let bytes = 0;
  try {
    await pipeline(
      createReadStream(file, { highWaterMark: READ_CHUNK }),
      new Writable({
        write(chunk: Buffer, _enc, callback) {
          hash.update(chunk);
          bytes += chunk.length;
          progress.update(bytes);
          callback();
        },
      }),
      { signal },
    );
  } catch (err) {
    progress.fail();
    if (signal.aborted) throw cancelled();
    throw new CliError('FILE_UNREADABLE', `Reading ${file} failed: ${code(err)}.`, EXIT.INVALID, { cause: err });
  }
  if (bytes !== size) {
    progress.fail();
    throw new CliError('FILE_CHANGED', `${file} changed size while it was read; nothing was uploaded.`, EXIT.INVALID);
  }
  progress.done();
  return hash.digest('hex');
}

/** Refuses early (before hashing a large file) when the name is taken and --overwrite is not given. */
async function assertFree(client: ApiClient, project: string, name: string): Promise<void> {
  try {
    await client.request('GET', artifactPath(project, name), { schema: artifactView });
  } catch (err) {
    // Not there: go ahead. No right to look (artifact:List): the upload itself decides.
    if (err instanceof ApiError && (err.code === 'ARTIFACT_NOT_FOUND' || err.status === 403)) return;
    throw err;
  }
  throw new CliError(
    'ALREADY_EXISTS',
    `Artifact ${name} already exists${inProject(project)}; add --overwrite to replace it.`,
    EXIT.CONFLICT,
  );
}

interface PutOptions extends JsonOption, ProjectOption, ProgressOption {
  overwrite?: boolean;
  kmsKey?: string;
}

/** One file already hashed, to store as an artifact. */
export interface ArtifactUpload {
  project: string;
  file: string;
  name: string;
  size: number;
  sha256: string;
  overwrite?: boolean;
  kmsKey?: string;
  signal: AbortSignal;
  /** Bytes of this file sent so far (cumulative). */
  onSent?: (bytes: number) => void;
}

/**
 * Streams a file the caller has hashed to the artifact store (`artifact put`,
 * and `package push` for each blob under one progress bar of its own).
 */
export async function uploadArtifact(client: ApiClient, u: ArtifactUpload): Promise<z.infer<typeof artifactView>> {
  const query = new URLSearchParams();
  if (u.overwrite === true) query.set('overwrite', 'true');
  if (u.kmsKey !== undefined) query.set('key', u.kmsKey);
  const path = `${artifactPath(u.project, u.name)}${query.size === 0 ? '' : `?${query.toString()}`}`;
  try {
    const source: Readable = createReadStream(u.file, { highWaterMark: READ_CHUNK });
    return await client.upload('PUT', path, {
      source,
      length: u.size,
      headers: { [SHA256_HEADER]: u.sha256 },
      schema: artifactView,
      signal: u.signal,
      ...(u.onSent === undefined ? {} : { onSent: u.onSent }),
    });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'ARTIFACT_DIGEST_MISMATCH') {
      throw new CliError(
        'ARTIFACT_DIGEST_MISMATCH',
        `${u.file} changed while it was uploaded; nothing was stored. Upload it again.`,
        EXIT.INVALID,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

async function put(ctx: CliContext, file: string, name: string, opts: PutOptions): Promise<void> {
  const { size } = uploadSource(file);
  const client = ctx.client();
  if (opts.overwrite !== true) await assertFree(client, opts.project, name);
  const a = await withInterrupt(async (signal) => {
    const sha256 = await hashFile(file, size, opts.progress, signal);
    const progress = new Progress('uploading  ', size, { mode: opts.progress });
    try {
      const view = await uploadArtifact(client, {
        project: opts.project,
        file,
        name,
        size,
        sha256,
        ...(opts.overwrite === undefined ? {} : { overwrite: opts.overwrite }),
        ...(opts.kmsKey === undefined ? {} : { kmsKey: opts.kmsKey }),
        signal,
        onSent: (n) => progress.update(n),
      });
      progress.done();
      return view;
    } catch (err) {
      progress.fail();
      throw err;
    }
  });
  if (opts.json === true) return printJson(a);
  printLine(`Uploaded ${file} as ${a.name}${inProject(a.project)}: ${a.size} bytes, SHA-256 ${a.sha256}.`);
}

interface GetOptions extends JsonOption, ProjectOption, ProgressOption {
  out?: string;
  overwrite?: boolean;
}

/** Where `get` writes: --out FILE, into --out DIR, or the name's last segment in the working directory. */
function downloadTarget(name: string, out: string | undefined): string {
  const last = name.split('/').pop() ?? name;
  if (out === undefined) return resolve(last);
  const target = resolve(out);
  try {
    if (statSync(target).isDirectory()) return join(target, last);
  } catch {
    // Not there yet: a file to create.
  }
  return target;
}

/** Puts the verified temporary file in place: atomically, and without replacing a file unless asked. */
function place(tmp: string, target: string, overwrite: boolean): void {
  const exists = (): CliError =>
    new CliError('FILE_EXISTS', `${target} already exists; add --overwrite to replace it, or choose another --out.`, EXIT.CONFLICT);
  if (overwrite) return renameSync(tmp, target);
  try {
    // link() fails if the target exists: no window in which another file could be replaced.
    linkSync(tmp, target);
    unlinkSync(tmp);
  } catch (err) {
    if (code(err) === 'EEXIST') throw exists();
    // A file system without hard links: check, then rename.
    if (existsSync(target)) throw exists();
    renameSync(tmp, target);
  }
}

/** Hashes and counts what passes, reports progress, and fails as soon as more than `length` bytes arrive. */
class Verifier extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly length: number,
    private readonly progress: Progress,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.length) {
      callback(
        new CliError(
          'DOWNLOAD_VERIFY_FAILED',
          `The server sent more than the ${this.length} bytes it announced; the download was refused.`,
          EXIT.VERIFY_FAILED,
        ),
      );
      return;
    }
    this.hash.update(chunk);
    this.progress.update(this.bytes);
    callback(null, chunk);
  }
}

/** stdout as a pipeline's end that is never closed (it is the process's, and other output may follow). */
function stdoutSink(): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, callback) {
      if (process.stdout.write(chunk)) callback();
      else process.stdout.once('drain', () => callback());
    },
  });
}

async function get(ctx: CliContext, name: string, opts: GetOptions): Promise<void> {
  const toStdout = opts.out === '-';
  if (toStdout && opts.json === true)
    throw new CliError('USAGE', '--json and --out - both use stdout; give --out FILE with --json.', EXIT.USAGE);
  const target = toStdout ? '-' : downloadTarget(name, opts.out);
  if (!toStdout && opts.overwrite !== true && existsSync(target))
    throw new CliError('FILE_EXISTS', `${target} already exists; add --overwrite to replace it, or choose another --out.`, EXIT.CONFLICT);
  if (!toStdout) {
    let folder = false;
    try {
      folder = statSync(dirname(target)).isDirectory();
    } catch {
      // Reported below.
    }
    if (!folder)
      throw new CliError('FILE_UNWRITABLE', `Cannot write ${target}: the folder ${dirname(target)} does not exist.`, EXIT.INVALID);
  }
  const client = ctx.client();
  const where = toStdout ? 'stdout' : target;
  const result = await withInterrupt(async (signal) => {
    const dl = await client.download(`${artifactPath(opts.project, name)}/content`, { signal });
    if (dl.length === undefined || dl.sha256 === undefined) {
      dl.cancel();
      throw new CliError(
        'BAD_RESPONSE',
        `The server did not send the download's length and ${SHA256_HEADER}; the CLI and server versions may differ.`,
        EXIT.UNEXPECTED,
      );
    }
    const length = dl.length;
    const progress = new Progress('downloading', length, { mode: opts.progress });
    const verifier = new Verifier(length, progress);
    const tmp = toStdout ? undefined : join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.partial`);
    let localError: unknown;
    // Which side failed first: a pipeline then destroys the other with the same error (Node 24 emits it there too).
    let failedFirst: 'download' | 'file' | undefined;
    let placed = false;
    const onAbort = (): void => void dl.body.destroy(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let sink: Writable;
      if (tmp === undefined) sink = stdoutSink();
      else {
        sink = createWriteStream(tmp, { flags: 'wx', flush: true });
        sink.once('error', (err) => {
          localError = err;
          failedFirst ??= 'file';
        });
      }
      dl.body.once('error', () => (failedFirst ??= 'download'));
      try {
        await pipeline(dl.body, verifier, sink);
      } catch (err) {
        if (signal.aborted) throw new CliError('CANCELLED', `Interrupted (Ctrl-C); nothing was written to ${where}.`, EXIT.CANCELLED);
        if (err instanceof CliError) throw err;
        if (localError !== undefined && failedFirst === 'file')
          throw new CliError('FILE_UNWRITABLE', `Cannot write ${where}: ${code(localError)}.`, EXIT.INVALID, { cause: localError });
        throw new CliError(
          'DOWNLOAD_INCOMPLETE',
          `The download of ${name} broke after ${verifier.bytes} of ${length} bytes (the server found a fault in the stored object, or the connection failed)` +
            (toStdout ? '; what reached stdout is incomplete.' : `; nothing was written to ${target}.`),
          EXIT.UNREACHABLE,
          { cause: err },
        );
      }
      const digest = verifier.hash.digest('hex');
      if (verifier.bytes !== length || digest !== dl.sha256) {
        const what =
          verifier.bytes !== length
            ? `${verifier.bytes} bytes arrived where ${length} were announced`
            : `its SHA-256 is ${digest}, not ${dl.sha256}`;
        throw new CliError(
          'DOWNLOAD_VERIFY_FAILED',
          `The download of ${name} failed verification: ${what}` +
            (toStdout ? '; what reached stdout must not be used.' : `; nothing was written to ${target}.`),
          EXIT.VERIFY_FAILED,
        );
      }
      progress.done();
      if (tmp !== undefined) {
        place(tmp, target, opts.overwrite === true);
        placed = true;
      }
      return { bytes: length, sha256: digest };
    } catch (err) {
      progress.fail();
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (tmp !== undefined && !placed) rmSync(tmp, { force: true });
    }
  });
  if (opts.json === true)
    return printJson({ name, project: opts.project, file: target, size: result.bytes, sha256: result.sha256, verified: true });
  if (!toStdout) printLine(`Downloaded ${name}${inProject(opts.project)} to ${target}: ${result.bytes} bytes, SHA-256 verified.`);
}

const PUT_HELP = `
The file is read twice, never whole into memory: once to compute its SHA-256
(sent as ${SHA256_HEADER}, which the server checks), then to stream it. The
server encrypts it under a fresh data key as it arrives; an interrupted upload
stores nothing. Names may hold "/" (models/blazeface/1.0.0.onnx).

Examples:
  sightline artifact put ./blazeface.onnx models/blazeface/1.0.0.onnx
  sightline artifact put ./app.tar packages/app/2.1.0.tar --overwrite --progress plain`;

const GET_HELP = `
The download is written to a temporary file beside the target while its
length and SHA-256 are checked, and moved into place only when complete and
verified: a broken or tampered download leaves no file. With --out - it is
written to stdout as it arrives (and a failed check is reported at the end).

Examples:
  sightline artifact get models/blazeface/1.0.0.onnx --out ./models/
  sightline artifact get packages/app/2.1.0.tar --out - | tar -t`;

export function registerArtifactCommands(program: Command, ctx: CliContext): void {
  const artifact = program
    .command('artifact')
    .description('the artifact store (models, packages): streamed uploads and downloads, encrypted at rest, SHA-256 checked');

  withProject(
    artifact
      .command('put')
      .argument('<file>', 'the file to upload')
      .argument('<name>', 'artifact name; may hold "/" (models/blazeface/1.0.0.onnx)')
      .description('uploads a file as an artifact, streamed, with its SHA-256 checked by the server'),
  )
    .option('--overwrite', 'replace an artifact of the same name')
    .option('--kms-key <KEY>', 'a customer-managed key of the project to encrypt it under (default: the service artifacts key)')
    .addOption(progressOption())
    .option('--json', 'print the result as JSON')
    .addHelpText('after', PUT_HELP)
    .action((file: string, name: string, opts: PutOptions) => put(ctx, file, name, opts));

  withProject(
    artifact
      .command('get')
      .argument('<name>', 'artifact name')
      .description('downloads an artifact, verifying its length and SHA-256; a failed download leaves no file'),
  )
    .option('--out <FILE>', 'where to write it: a file, a folder, or - for stdout (default: the last part of the name, here)')
    .option('--overwrite', 'replace an existing file')
    .addOption(progressOption())
    .option('--json', 'print {name, file, size, sha256} as JSON')
    .addHelpText('after', GET_HELP)
    .action((name: string, opts: GetOptions) => get(ctx, name, opts));

  withProject(artifact.command('ls').description("lists a project's artifacts in name order"))
    .option('--prefix <PREFIX>', 'only names that start with PREFIX (e.g. models/)')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption & { prefix?: string }) => {
      const client = ctx.client();
      const all: z.infer<typeof artifactView>[] = [];
      let after: string | null = null;
      do {
        const q = new URLSearchParams();
        if (opts.prefix !== undefined) q.set('prefix', opts.prefix);
        if (after !== null) q.set('after', after);
        const page: z.infer<typeof listResponse> = await client.request('GET', `${artifactsPath(opts.project)}?${q.toString()}`, {
          schema: listResponse,
        });
        all.push(...page.artifacts);
        after = page.next;
      } while (after !== null);
      if (opts.json === true) return printJson({ artifacts: all });
      if (all.length === 0)
        return printLine(`No artifacts${opts.prefix === undefined ? '' : ` under ${opts.prefix}`}${inProject(opts.project)}.`);
      printTable(
        all.map((a) => ({ ...a, bytes: a.size, sha256: `${a.sha256.slice(0, 16)}…`, created: a.createdAt })),
        ['name', 'bytes', 'sha256', 'created'],
      );
    });

  withProject(
    artifact.command('describe').argument('<name>', 'artifact name').description('shows an artifact: size, SHA-256, key, who and when'),
  )
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption) => {
      const a = await ctx.client().request('GET', artifactPath(opts.project, name), { schema: artifactView });
      if (opts.json === true) return printJson(a);
      printFields([
        ['name', a.name],
        ['project', a.project],
        ['size', `${a.size} bytes (${formatBytes(a.size)})`],
        ['sha256', a.sha256],
        ['key id', a.keyId],
        ['created', a.createdAt],
        ['created by', a.createdBy],
      ]);
    });

  withProject(
    artifact.command('rm').argument('<name>', 'artifact name').description('deletes an artifact and its encrypted bytes, for good'),
  )
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption & { yes?: boolean }) => {
      await confirmAction({
        yes: opts.yes,
        what: `Delete artifact ${name}${inProject(opts.project)}: its data key and bytes are destroyed and it cannot be recovered.`,
        typeToConfirm: name,
      });
      await ctx.client().request('DELETE', artifactPath(opts.project, name));
      if (opts.json === true) return printJson({ ok: true, deleted: name, project: opts.project });
      printLine(
        `Deleted artifact ${name}${inProject(opts.project)}. Upload it again with "sightline artifact put FILE ${shellQuote(name)}${projectFlag(opts.project)}".`,
      );
    });
}

import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { z } from 'zod';
import {
  buildRoot,
  bundleTargetName,
  decryptReleaseKey,
  encryptReleaseKey,
  generateReleaseKey,
  isReleaseVersion,
  isSightlineError,
  nextRoot,
  nextTargets,
  parseMetadata,
  readBundle,
  releaseSigner,
  releaseTarget,
  signMetadata,
  type ReleaseSigner,
} from '@sightline/core';
import { releaseViews } from '@sightline/protocol';
import { Key } from '@tufjs/models';
import type { ApiClient } from '../client/api-client.js';
import { ApiError, CliError, EXIT } from '../errors.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { printable, printJson, printLine, printTable } from '../output/print.js';
import { formatBytes } from '../output/progress.js';
import { isInteractive, promptHidden } from '../prompt/prompt.js';
import { uploadArtifact } from './artifact.js';

/** Offline key folder: two encrypted key files and the newest root and targets metadata signed with them. */
const ROOT_KEY = 'root.key';
const TARGETS_KEY = 'targets.key';
const ROOT_JSON = 'root.json';
const TARGETS_JSON = 'targets.json';
export const PASSPHRASE_ENV = 'SIGHTLINE_RELEASE_PASSPHRASE';
const WAIT_SECONDS = 25;
const POLL_TIMEOUT_MS = 40_000;
const MAX_BUNDLE_BYTES = 512 * 1024 * 1024;

const onlineKeys = z.object({
  snapshot: z.object({ keyId: z.string(), key: z.record(z.string(), z.unknown()) }),
  timestamp: z.object({ keyId: z.string(), key: z.record(z.string(), z.unknown()) }),
});
const { releaseView: releaseRow, updateRefusal: refusal } = releaseViews;
const listing = z.object({
  releases: z.array(releaseRow),
  root: z.object({ version: z.number(), expires: z.string() }).nullable(),
  targetsVersion: z.number().nullable(),
  timestampExpires: z.string().nullable(),
});
/** The job fields the CLI shows (and prints with --json). */
const jobView = releaseViews.updateJobView.omit({ kind: true, stageStartedAt: true, createdAt: true });
type JobView = z.infer<typeof jobView>;

const code = (err: unknown): string => (err as { code?: string } | null)?.code ?? (err instanceof Error ? err.message : 'error');

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('FILE_UNREADABLE', `Cannot read ${what} ${file}: ${code(err)}.`, EXIT.INVALID, { cause: err });
  }
}

function writeSecretFile(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
}

/** The passphrase of the offline key files: SIGHTLINE_RELEASE_PASSPHRASE, else asked on the terminal. */
async function passphrase(ctx: CliContext, confirm: boolean): Promise<string> {
  const env = ctx.env[PASSPHRASE_ENV];
  if (env !== undefined && env !== '') return env;
  if (!isInteractive()) throw new CliError('PASSPHRASE_REQUIRED', `Set ${PASSPHRASE_ENV} or run on a terminal to give the release key passphrase.`, EXIT.USAGE);
  const first = await promptHidden('Release key passphrase: ');
  if (confirm && (await promptHidden('Again: ')) !== first) throw new CliError('PASSPHRASE_MISMATCH', 'The two passphrases differ.', EXIT.INVALID);
  return first;
}

/** Opens a key file of the folder; a wrong passphrase is RELEASE_KEY_INVALID (exit 7). */
function openKey(dir: string, file: string, pass: string): ReleaseSigner {
  try {
    return decryptReleaseKey(readText(join(dir, file), 'key file'), pass);
  } catch (err) {
    if (isSightlineError(err) && !(err instanceof CliError)) throw new CliError(err.code, err.message, EXIT.INVALID, { cause: err });
    throw err;
  }
}

function parseFile<K extends 'root' | 'targets'>(kind: K, file: string): ReturnType<typeof parseMetadata<K>> {
  try {
    return parseMetadata(kind, Buffer.from(readText(file, `${kind} metadata`)));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(code(err), `${file}: ${(err as Error).message}`, EXIT.INVALID, { cause: err });
  }
}

function newKeyFolder(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new CliError('ALREADY_EXISTS', `${dir} is not empty; give a new folder for the keys.`, EXIT.CONFLICT);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

async function fetchOnlineKeys(ctx: CliContext, file: string | undefined): Promise<{ snapshot: Key; timestamp: Key }> {
  const raw = file === undefined ? await ctx.client().request('GET', '/api/v1/releases/online-keys', { schema: onlineKeys }) : onlineKeys.parse(JSON.parse(readText(file, 'online keys')));
  return {
    snapshot: Key.fromJSON(raw.snapshot.keyId, raw.snapshot.key as Parameters<typeof Key.fromJSON>[1]),
    timestamp: Key.fromJSON(raw.timestamp.keyId, raw.timestamp.key as Parameters<typeof Key.fromJSON>[1]),
  };
}

async function pushRoot(ctx: CliContext, dir: string): Promise<{ version: number; expires: string }> {
  const root = JSON.parse(readText(join(dir, ROOT_JSON), 'root metadata')) as unknown;
  return ctx.client().request('POST', '/api/v1/releases/root', { body: { root }, schema: releaseViews.rootInstalled });
}

const intArg = (name: string) => (v: string): number => {
  if (!/^\d{1,9}$/.test(v)) throw new InvalidArgumentError(`${name} is a whole number.`);
  return Number(v);
};
const versionArg = (v: string): string => {
  if (!isReleaseVersion(v)) throw new InvalidArgumentError('a release version such as 1.2.0');
  return v;
};

interface SignOptions {
  keys: string;
  release: string;
  securityVersion: number;
  required?: boolean;
  minAgentVersion?: string;
  previous?: string;
  out?: string;
}

/** `sightline release …` and `sightline release keys …`. */
export function registerReleaseCommands(program: Command, ctx: CliContext): void {
  const release = program
    .command('release')
    .description('signed agent releases in a TUF repository: offline keys, sign, publish, list');
  const keys = release.command('keys').description('the offline root and targets keys');

  keys
    .command('init')
    .description('creates the offline root and targets keys (encrypted files) and root.json version 1, and installs that root')
    .requiredOption('--out <DIR>', 'a new folder for the keys (keep it offline)')
    .option('--online-keys <FILE>', 'the control plane\'s snapshot/timestamp keys (GET /api/v1/releases/online-keys) for a machine without access; the root is then not uploaded')
    .addHelpText('after', `\nThe passphrase comes from ${PASSPHRASE_ENV} or the terminal.\n\nExample:\n  sightline release keys init --out ./release-keys`)
    .action(async (opts: { out: string; onlineKeys?: string }) => {
      const online = await fetchOnlineKeys(ctx, opts.onlineKeys);
      const pass = await passphrase(ctx, true);
      newKeyFolder(opts.out);
      const rootKey = generateReleaseKey();
      const targetsKey = generateReleaseKey();
      const rootSigner = releaseSigner(rootKey);
      const root = buildRoot({ root: [rootSigner.key], rootThreshold: 1, targets: [releaseSigner(targetsKey).key], targetsThreshold: 1, snapshot: [online.snapshot], timestamp: [online.timestamp] }, 1, new Date());
      signMetadata(root, [rootSigner]);
      writeSecretFile(join(opts.out, ROOT_KEY), encryptReleaseKey(rootKey, pass));
      writeSecretFile(join(opts.out, TARGETS_KEY), encryptReleaseKey(targetsKey, pass));
      writeFileSync(join(opts.out, ROOT_JSON), `${JSON.stringify(root.toJSON(), null, 2)}\n`);
      if (opts.onlineKeys !== undefined) {
        printLine(`Wrote ${opts.out}: root.key, targets.key, root.json (version 1). Install the root from a signed-in machine: sightline release keys push --keys ${shellQuote(opts.out)}`);
        return;
      }
      const r = await pushRoot(ctx, opts.out);
      printLine(`Wrote ${opts.out} (root.key, targets.key, root.json) and installed root version ${r.version} (expires ${r.expires}). Keep the folder offline.`);
    });

  keys
    .command('push')
    .description('installs the root.json of a key folder on the control plane')
    .requiredOption('--keys <DIR>', 'the key folder')
    .action(async (opts: { keys: string }) => {
      const r = await pushRoot(ctx, opts.keys);
      printLine(`Installed root version ${r.version} (expires ${r.expires}).`);
    });

  keys
    .command('rotate')
    .description('new root keys: root.json version N+1 signed by the old root key and the new one (TUF root rotation)')
    .requiredOption('--keys <DIR>', 'the current key folder')
    .requiredOption('--new-keys <DIR>', 'a new folder for the new root key (the targets key is copied)')
    .option('--offline', 'do not upload the new root (push it later with "sightline release keys push")')
    .addHelpText('after', '\nExample:\n  sightline release keys rotate --keys ./release-keys --new-keys ./release-keys-2')
    .action(async (opts: { keys: string; newKeys: string; offline?: boolean }) => {
      const current = parseFile('root', join(opts.keys, ROOT_JSON));
      const pass = await passphrase(ctx, false);
      const oldRoot = openKey(opts.keys, ROOT_KEY, pass);
      newKeyFolder(opts.newKeys);
      const fresh = generateReleaseKey();
      const freshSigner = releaseSigner(fresh);
      const next = signMetadata(nextRoot(current.signed, { root: [freshSigner.key] }, new Date()), [oldRoot, freshSigner]);
      writeSecretFile(join(opts.newKeys, ROOT_KEY), encryptReleaseKey(fresh, pass));
      copyFileSync(join(opts.keys, TARGETS_KEY), join(opts.newKeys, TARGETS_KEY));
      chmodSync(join(opts.newKeys, TARGETS_KEY), 0o600);
      if (existsSync(join(opts.keys, TARGETS_JSON))) copyFileSync(join(opts.keys, TARGETS_JSON), join(opts.newKeys, TARGETS_JSON));
      writeFileSync(join(opts.newKeys, ROOT_JSON), `${JSON.stringify(next.toJSON(), null, 2)}\n`);
      if (opts.offline === true) return printLine(`Wrote root version ${next.signed.version} to ${opts.newKeys}; install it with "sightline release keys push --keys ${shellQuote(opts.newKeys)}".`);
      const r = await pushRoot(ctx, opts.newKeys);
      printLine(`Installed root version ${r.version}, signed by the old and the new root key. Use ${opts.newKeys} from now on; destroy the old root key once devices have moved on.`);
    });

  release
    .command('sign')
    .argument('<bundle>', 'the agent bundle (sightline-agent-<version>.tar: ustar with manifest.json)')
    .description('signs the next targets metadata with the offline targets key (no network); writes a folder for "release publish"')
    .requiredOption('--keys <DIR>', 'the key folder')
    .requiredOption('--release <V>', 'the release version (must match the bundle\'s manifest.json); not --version, which is the CLI\'s own', versionArg)
    .requiredOption('--security-version <N>', 'anti-rollback security version (devices refuse anything below their floor)', intArg('--security-version'))
    .option('--required', 'a required release: committing it raises the device\'s floor to its security version')
    .option('--min-agent-version <V>', 'the oldest agent that may install it', versionArg)
    .option('--previous <FILE>', 'the current targets.json to build on (default: the key folder\'s targets.json)')
    .option('--out <DIR>', 'output folder (default sightline-release-<version>)')
    .addHelpText('after', '\nExample:\n  sightline release sign sightline-agent-1.2.0.tar --keys ./release-keys --release 1.2.0 --security-version 3 --required')
    .action(async (bundle: string, opts: SignOptions) => {
      const size = statSync(bundle).size;
      if (size > MAX_BUNDLE_BYTES) throw new CliError('BUNDLE_INVALID', `${bundle} is larger than ${formatBytes(MAX_BUNDLE_BYTES)}.`, EXIT.INVALID);
      const bytes = readFileSync(bundle);
      let manifestVersion: string;
      try {
        manifestVersion = readBundle(bytes).manifest.version;
      } catch (err) {
        throw new CliError(code(err), `${bundle}: ${(err as Error).message}`, EXIT.INVALID, { cause: err });
      }
      if (manifestVersion !== opts.release) throw new CliError('BUNDLE_INVALID', `${bundle} holds version ${manifestVersion}, not ${opts.release}.`, EXIT.INVALID);
      const previousFile = opts.previous ?? join(opts.keys, TARGETS_JSON);
      const previous = existsSync(previousFile) ? parseFile('targets', previousFile).signed : undefined;
      const targetsKey = openKey(opts.keys, TARGETS_KEY, await passphrase(ctx, false));
      const name = bundleTargetName(opts.release);
      let md;
      try {
        md = nextTargets(previous, [releaseTarget(name, bytes, { version: opts.release, securityVersion: opts.securityVersion, required: opts.required === true, ...(opts.minAgentVersion === undefined ? {} : { minAgentVersion: opts.minAgentVersion }) })], new Date());
      } catch (err) {
        throw new CliError(code(err), (err as Error).message, EXIT.CONFLICT, { cause: err });
      }
      signMetadata(md, [targetsKey]);
      const out = opts.out ?? `sightline-release-${opts.release}`;
      newKeyFolder(out);
      const text = `${JSON.stringify(md.toJSON(), null, 2)}\n`;
      writeFileSync(join(out, TARGETS_JSON), text);
      copyFileSync(bundle, join(out, name));
      writeFileSync(join(opts.keys, TARGETS_JSON), text);
      printLine(`Signed targets version ${md.signed.version} with ${name} (security version ${opts.securityVersion}${opts.required === true ? ', required' : ''}) into ${out}; publish it with "sightline release publish ${shellQuote(out)}".`);
    });

  release
    .command('publish')
    .argument('<signed>', 'the folder "release sign" wrote')
    .description('uploads the bundle (encrypted at rest) and the signed targets; the control plane checks the signatures against its root')
    .option('--json', 'print JSON')
    .action(async (signed: string, opts: JsonOption) => {
      const targets = JSON.parse(readText(join(signed, TARGETS_JSON), 'targets metadata')) as unknown;
      const client = ctx.client();
      for (const file of readdirSync(signed).filter((f) => f.endsWith('.tar'))) {
        const path = join(signed, file);
        const data = readFileSync(path);
        const sha256 = createHash('sha256').update(data).digest('hex');
        try {
          await withInterrupt((signal) => uploadArtifact(client, { project: 'default', file: path, name: `releases/${basename(file)}`, size: data.length, sha256, signal }));
        } catch (err) {
          // Uploaded before (a retried publish): the server compares it with the signed hash.
          if (!(err instanceof ApiError && err.code === 'ALREADY_EXISTS')) throw err;
        }
      }
      const res = await client.request('POST', '/api/v1/releases', { body: { targets }, schema: releaseViews.publishResponse });
      if (opts.json === true) return printJson(res);
      printLine(`Published targets version ${res.targetsVersion}: ${res.releases.map((r) => r.version).join(', ') || 'no new release'}.`);
    });

  release
    .command('ls')
    .description('lists releases, newest first, with the repository\'s root and targets versions')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const res = await ctx.client().request('GET', '/api/v1/releases', { schema: listing });
      if (opts.json === true) return printJson(res);
      printLine(`root v${res.root?.version ?? '-'}  targets v${res.targetsVersion ?? '-'}  timestamp expires ${res.timestampExpires ?? '-'}`);
      if (res.releases.length === 0) return printLine('No releases.');
      printTable(res.releases, ['version', 'securityVersion', 'required', 'minAgentVersion', 'length', 'createdAt', 'createdBy']);
    });
}

const FINAL = new Set(['succeeded', 'failed']);

/** Follows one job to its end, printing each stage (and download bytes at 10% steps) as it changes. */
async function followJob(client: ApiClient, project: string, first: JobView, signal: AbortSignal, say: (line: string) => void): Promise<JobView> {
  let v = first;
  let shown = 0;
  let lastDecile = -1;
  const show = (): void => {
    for (const h of v.history.slice(shown)) say(`${v.device}  ${h.stage}${h.message === undefined ? '' : `  ${h.message}`}`);
    shown = v.history.length;
    if (v.stage === 'downloading' && v.bytesTotal !== null && v.bytesTotal > 0) {
      const decile = Math.floor(((v.bytesDone ?? 0) / v.bytesTotal) * 10);
      if (decile !== lastDecile) say(`${v.device}  downloading  ${formatBytes(v.bytesDone ?? 0)} / ${formatBytes(v.bytesTotal)}`);
      lastDecile = decile;
    }
  };
  show();
  while (!FINAL.has(v.status)) {
    const q = new URLSearchParams({ wait: String(WAIT_SECONDS), since: v.etag });
    ({ job: v } = await client.request('GET', `/api/v1/projects/${seg(project)}/devices/${seg(v.device)}/jobs/${seg(v.id)}?${q.toString()}`, {
      schema: z.object({ job: jobView }),
      signal,
      timeoutMs: POLL_TIMEOUT_MS,
    }));
    show();
  }
  return v;
}

/** `sightline device update NAME|--all [--release V]`: queues update jobs and follows them live. */
export function registerDeviceUpdateCommand(device: Command, ctx: CliContext): void {
  withProject(
    device
      .command('update')
      .argument('[name]', 'device name (or --all)')
      .description('updates devices to a signed release (newest unless --release) and follows each stage: downloading → verifying → installing → rebooting → health-check → committed, or reverted'),
  )
    .option('--all', 'every registered device of the project')
    .option('--release <V>', 'the release version to install (not --version, which is the CLI\'s own)', versionArg)
    .option('--no-follow', 'queue the jobs and return')
    .option('--json', 'print JSON (the final jobs)')
    .addHelpText('after', '\nExits 11 if any device was refused, failed or reverted (6 when the one named device refuses: below its floor).\n\nExample:\n  sightline device update edge-1 --release 1.2.0\n  sightline device update --all')
    .action(async (name: string | undefined, opts: JsonOption & ProjectOption & { all?: boolean; release?: string; follow: boolean }) => {
      if ((name === undefined) === (opts.all !== true)) throw new CliError('USAGE', 'Name one device or give --all.', EXIT.USAGE);
      const client = ctx.client();
      const body = opts.release === undefined ? {} : { version: opts.release };
      let jobs: JobView[];
      let refused: z.infer<typeof refusal>[] = [];
      if (name !== undefined) {
        jobs = [(await client.request('POST', `/api/v1/projects/${seg(opts.project)}/devices/${seg(name)}/update`, { body, schema: z.object({ job: jobView }) })).job];
      } else {
        ({ jobs, refused } = await client.request('POST', `/api/v1/projects/${seg(opts.project)}/updates`, { body, schema: z.object({ jobs: z.array(jobView), refused: z.array(refusal) }) }));
      }
      const say = (line: string): void => {
        if (opts.json !== true) printLine(printable(line));
      };
      for (const r of refused) say(`${r.device}  refused  ${r.code}: ${r.message}`);
      for (const j of jobs) say(`${j.device}  queued  job ${j.id} (${j.params?.version ?? ''})`);
      const final = opts.follow ? await withInterrupt((signal) => Promise.all(jobs.map((j) => followJob(client, opts.project, j, signal, say)))) : jobs;
      if (opts.json === true) printJson({ jobs: final, refused });
      const bad = final.filter((j) => j.status === 'failed');
      if (bad.length > 0 || refused.length > 0) {
        throw new CliError(
          'UPDATE_FAILED',
          `${bad.length + refused.length} of ${jobs.length + refused.length} device(s) did not commit: ${[...bad.map((j) => `${j.device} (${j.message ?? j.stage ?? 'failed'})`), ...refused.map((r) => `${r.device} (${r.code})`)].join(', ')}.`,
          EXIT.DEPLOY_FAILED,
        );
      }
      if (opts.follow) say(`${final.length} device(s) committed.`);
    });
}

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { appsApi } from '@sightline/protocol';
import type { AppDescriptor } from '@sightline/sdk';
import type { Clock } from '../clock.js';
import type { DeviceClient } from '../client/device-client.js';
import { AgentError, ControlPlaneError, isTransient } from '../errors.js';
import type { ModelDescriptor as VisionDescriptor, ModelPackage } from '../vision/model-package.js';
import { AppError } from './errors.js';
import { nodeStorageDir, passThroughDirs } from './dirs.js';
import { resolveWiring } from './graph.js';
import { AppKvStore } from './kv-store.js';
import type { CachedFile, PackageCache } from './package-cache.js';
import { codeDescriptor, modelDescriptor, verifyPackageRef, type VerifiedPackage } from './packages.js';
import type { DesiredApp } from './planner.js';
import { AppRuntime, type PreparedNode, type RuntimeDeps } from './runtime.js';

export type StageName = 'downloading' | 'verifying' | 'starting';
export type Progress = Omit<appsApi.AppStatusReport, 'revision'>;

export interface DeployDeps {
  readonly client: () => DeviceClient;
  readonly cache: PackageCache;
  /** Where package files are materialised in plaintext for the run (a tmpfs where there is one; wiped on stop). */
  readonly runRoot: string;
  /** The instance's persistent folder (its storage folders and sealed key-value stores). */
  readonly instanceDir: string;
  /** Key for the instance's sealed key-value stores. */
  readonly appsKey: Uint8Array;
  readonly clock: Clock;
  readonly progress: (p: Progress) => void;
  readonly runtime: RuntimeDeps;
  /** Attempts per blob on transient network faults (default: until the stage times out). */
  readonly downloadAttempts?: number;
}

export interface Deployed {
  readonly runtime: AppRuntime;
  /** The plaintext package folder of this run; remove it once the runtime stops. */
  readonly runDir: string;
}

/**
 * Runs `fn` as stage `name` under its timeout (issue 6: nothing sits in
 * progress forever). Past the timeout the stage's signal aborts, what it
 * started is given a moment to clean up, and STAGE_TIMEOUT names the stage.
 */
export async function withStage<T>(
  name: StageName,
  seconds: number,
  clock: Clock,
  parent: AbortSignal,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const ctl = new AbortController();
  const onParent = (): void => ctl.abort();
  parent.addEventListener('abort', onParent, { once: true });
  if (parent.aborted) ctl.abort();
  const timer = new AbortController();
  let timedOut = false;
  const expiry = clock.sleep(seconds * 1000, timer.signal).then(() => {
    if (timer.signal.aborted) return;
    timedOut = true;
    ctl.abort();
  });
  const work = fn(ctl.signal);
  try {
    await Promise.race([
      work.then(
        () => undefined,
        () => undefined,
      ),
      expiry,
    ]);
    if (timedOut) {
      await Promise.race([work.catch(() => undefined), clock.sleep(10_000)]);
      throw new AppError('STAGE_TIMEOUT', `The ${name} stage ran past its timeout of ${seconds} s.`, { details: { stage: name } });
    }
    return await work;
  } finally {
    timer.abort();
    parent.removeEventListener('abort', onParent);
  }
}

function cancelledIf(signal: AbortSignal): void {
  if (signal.aborted) throw new AppError('DEPLOYMENT_CANCELLED', 'The deployment was cancelled.');
}

/** The manifest's files of every package, each blob once. */
function uniqueFiles(pkgs: readonly VerifiedPackage[]): CachedFile[] {
  const seen = new Map<string, CachedFile>();
  for (const p of pkgs) {
    for (const f of p.manifest.files) {
      const before = seen.get(f.sha256);
      if (before !== undefined && before.bytes !== f.bytes)
        throw new AppError('PACKAGE_MANIFEST_INVALID', `Two manifests give blob ${f.sha256.slice(0, 12)}… different lengths.`);
      seen.set(f.sha256, { sha256: f.sha256, bytes: f.bytes });
    }
  }
  return [...seen.values()];
}

/** The model runner's descriptor from a model package's (protocol) descriptor. */
export function runnerDescriptor(d: appsApi.ModelDescriptor, sha256: string): VisionDescriptor {
  const [mean, std] = [d.input.mean[0] ?? 0, d.input.std[0] ?? 1];
  return {
    name: d.name,
    version: d.version,
    ...(d.description === undefined ? {} : { description: d.description }),
    file: d.file,
    sha256,
    // A dynamic dimension is fed as 1 (one image per run).
    input: {
      name: d.input.name,
      shape: d.input.shape.map((n) => (n < 0 ? 1 : n)),
      layout: d.input.layout,
      color: 'RGB',
      // (v/255 - mean)/std maps pixel 0 and 255 to these (the SDK's tensor spec is one range for all channels).
      range: [(0 - mean) / std, (1 - mean) / std],
    },
    outputs: [...d.outputs],
  };
}

async function download(
  f: CachedFile,
  deps: DeployDeps,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  timeoutMs: number,
): Promise<void> {
  const attempts = deps.downloadAttempts ?? Number.POSITIVE_INFINITY;
  for (let attempt = 1; ; attempt++) {
    let got = 0;
    try {
      await deps.cache.store(
        f,
        (push) => deps.client().downloadBlob(f.sha256, { maxBytes: f.bytes, onChunk: push, timeoutMs, signal }),
        (n) => {
          got += n;
          onBytes(n);
        },
      );
      return;
    } catch (err) {
      onBytes(-got);
      cancelledIf(signal);
      // More bytes than declared, cut off by the fetcher's cap: a different file.
      if (err instanceof AgentError && err.code === 'RESPONSE_TOO_LARGE') {
        throw new AppError(
          'PACKAGE_FILE_INVALID',
          `Package file ${f.sha256.slice(0, 12)}… is longer than the ${f.bytes} bytes its manifest declares; refusing it.`,
          {
            cause: err,
          },
        );
      }
      if (err instanceof AppError) throw err;
      // A refusal (4xx: no such blob for this device) will not change by retrying; the network and 5xx may.
      if (err instanceof ControlPlaneError || !isTransient(err) || attempt >= attempts) {
        throw new AppError(
          'PACKAGE_DOWNLOAD_FAILED',
          `Package file ${f.sha256.slice(0, 12)}… could not be downloaded: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      // The control plane is away: wait and try again; the stage timeout bounds the whole.
      await deps.clock.sleep(Math.min(30_000, 1000 * 2 ** (attempt - 1)), signal);
    }
  }
}

async function materialise(p: VerifiedPackage, dir: string, cache: PackageCache): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const f of p.manifest.files) {
    const dest = join(dir, f.path);
    await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
    await cache.open(f, dest);
    await chmod(dest, 0o444);
  }
}

/**
 * One deployment of `app`, stage by stage, each under its timeout:
 *
 * - downloading: every package's signature is verified before any of its
 *   bytes are fetched; then each file not yet in the encrypted cache is
 *   streamed, counted and hashed against the signed manifest.
 * - verifying: every file is decrypted and checked again, the descriptors
 *   parsed, the graph resolved.
 * - starting: the packages are materialised into a fresh private folder and
 *   the runtime started (models, code nodes until each said hello, cameras).
 *
 * Anything that fails throws with a stable code; what was started is stopped.
 */
export async function deployApp(app: DesiredApp, deps: DeployDeps, signal: AbortSignal): Promise<Deployed> {
  const t = app.stageTimeoutsSeconds;
  const refs = [...app.code.map((c) => ({ node: c.node, ref: c.package })), ...app.models.map((m) => ({ node: m.node, ref: m.package }))];

  const packages = await withStage('downloading', t.downloading, deps.clock, signal, async (s) => {
    deps.progress({ stage: 'downloading', bytesDone: 0, bytesTotal: 0 });
    // Issue 6: the signature first; an unsigned or untrusted package costs no download.
    const verified = refs.map((r) => ({ node: r.node, pkg: verifyPackageRef(r.ref, app.trustedKeyIds) }));
    const files = uniqueFiles(verified.map((v) => v.pkg));
    const total = files.reduce((a, f) => a + f.bytes, 0);
    let done = 0;
    const missing: CachedFile[] = [];
    for (const f of files) {
      if (await deps.cache.has(f.sha256)) done += f.bytes;
      else missing.push(f);
    }
    deps.progress({ stage: 'downloading', bytesDone: done, bytesTotal: total });
    for (const f of missing) {
      cancelledIf(s);
      await download(
        f,
        deps,
        s,
        (n) => {
          done += n;
          deps.progress({ stage: 'downloading', bytesDone: done, bytesTotal: total });
        },
        t.downloading * 1000,
      );
    }
    return verified;
  });

  const checked = await withStage('verifying', t.verifying, deps.clock, signal, async (s) => {
    deps.progress({ stage: 'verifying' });
    for (const f of uniqueFiles(packages.map((p) => p.pkg))) {
      cancelledIf(s);
      await deps.cache.open(f);
    }
    const code = new Map<string, { pkg: VerifiedPackage; descriptor: AppDescriptor; entry: string }>();
    const models = new Map<string, { pkg: VerifiedPackage; descriptor: VisionDescriptor }>();
    for (const { node, pkg } of packages) {
      if (pkg.ref.kind === 'code') code.set(node, { pkg, ...codeDescriptor(pkg) });
      else {
        const m = modelDescriptor(pkg);
        models.set(node, { pkg, descriptor: runnerDescriptor(m.descriptor, m.sha256) });
      }
    }
    const wiring = resolveWiring(app, new Map([...code].map(([n, c]) => [n, c.descriptor])));
    return { code, models, wiring };
  });

  const runDir = join(deps.runRoot, app.instanceId, `r${app.revision}-${randomBytes(4).toString('hex')}`);
  try {
    const runtime = await withStage('starting', t.starting, deps.clock, signal, async (s) => {
      deps.progress({ stage: 'starting' });
      // The code folders are reachable by the app's uid; the model folders only by the agent (its model runners).
      await passThroughDirs(deps.runRoot, join(runDir, 'code'));
      await mkdir(join(runDir, 'models'), { mode: 0o700 });
      const nodes: PreparedNode[] = [];
      for (const [node, c] of checked.code) {
        cancelledIf(s);
        const appDir = join(runDir, 'code', node);
        await materialise(c.pkg, appDir, deps.cache);
        const storageDir = nodeStorageDir(deps.instanceDir, node);
        await passThroughDirs(deps.instanceDir, join(deps.instanceDir, 'storage'));
        await mkdir(storageDir, { recursive: true, mode: 0o700 });
        const kv = await AppKvStore.open(
          join(deps.instanceDir, `${node}.kv.sealed`),
          `${app.instanceId}/${node}`,
          deps.appsKey,
          Math.max(64 * 1024, c.descriptor.resources.diskMiB * 1024 * 1024),
        );
        nodes.push({ node, descriptor: c.descriptor, appDir, entry: join(appDir, c.entry), storageDir, kv });
      }
      const models = new Map<string, ModelPackage>();
      for (const [node, m] of checked.models) {
        cancelledIf(s);
        const dir = join(runDir, 'models', node);
        await materialise(m.pkg, dir, deps.cache);
        models.set(node, { dir, descriptor: m.descriptor, modelPath: join(dir, m.descriptor.file) });
      }
      const rt = await AppRuntime.start({ app, nodes, models, wiring: checked.wiring }, deps.runtime, s);
      if (s.aborted) {
        // Started after the stage ran out (or was cancelled): nobody owns it, so it goes now.
        await rt.stop();
        cancelledIf(s);
      }
      return rt;
    });
    return { runtime, runDir };
  } catch (err) {
    await rm(runDir, { recursive: true, force: true });
    throw err;
  }
}

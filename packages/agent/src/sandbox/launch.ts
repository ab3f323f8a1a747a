import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { bwrapArgs, hostRootBinds, type SandboxBind } from './bwrap-args.js';
import { NodeCgroup } from './cgroup.js';
import { prepareStorage, type StorageQuota } from './disk.js';
import { SandboxError } from './errors.js';
import { findTool } from './exec.js';
import { plainExit } from './exit.js';
import { assertReachable, lendTreeToGroup } from './ownership.js';
import type { AppliedLayers, ExitReason, NodeSpec, SandboxCapabilities, SandboxedProcessLike } from './types.js';

/** Niceness of apps where no cgroup can cap their CPU. */
export const FALLBACK_NICE = 10;

/**
 * The gate every app process passes: the agent places the waiting shell in
 * the node's cgroup, then writes `go`; only then does the shell exec the
 * sandbox and the app. If the agent cannot place it, stdin closes without
 * `go` and nothing of the app ever runs (seed point 15: no app code outside
 * its quota).
 */
const GATE = 'read -r go && [ "$go" = go ] && exec "$@" </dev/null; exit 97';

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Checks a spec before anything is made for it. */
export function validateSpec(spec: NodeSpec): void {
  const fail = (what: string): never => {
    throw new SandboxError('SANDBOX_SPEC_INVALID', `Sandbox spec for ${spec.instance}/${spec.node}: ${what}`);
  };
  if (!NAME.test(spec.instance)) fail('instance must be 1-64 of A-Z a-z 0-9 _ . - (not starting with . or -).');
  if (!NAME.test(spec.node)) fail('node must be 1-64 of A-Z a-z 0-9 _ . - (not starting with . or -).');
  const paths = [spec.appDir, spec.storageDir, ...(spec.readOnlyPaths ?? []), ...(spec.readWritePaths ?? [])];
  for (const p of paths)
    if (!isAbsolute(p) || resolve(p) !== p || p === '/') fail(`"${p}" must be an absolute, normalised path other than /.`);
  if (!isAbsolute(spec.launch.command)) fail('the launch command must be an absolute path.');
  const { memoryMiB, cpuCores, diskMiB } = spec.limits;
  if (!Number.isInteger(memoryMiB) || memoryMiB < 32 || memoryMiB > 65536)
    fail('limits.memoryMiB must be a whole number from 32 to 65536.');
  if (!(cpuCores > 0 && cpuCores <= 256)) fail('limits.cpuCores must be above 0 and at most 256.');
  if (!Number.isInteger(diskMiB) || diskMiB < 0 || diskMiB > 1_048_576) fail('limits.diskMiB must be a whole number from 0 to 1048576.');
}

export interface LaunchContext {
  readonly caps: SandboxCapabilities;
  /** The app's own uid/gid (the agent is root), or null: the agent's. */
  readonly identity: { readonly uid: number; readonly gid: number } | null;
  /** Quota image of this node (loop-image). */
  readonly imagePath: string;
  readonly diskCheckMs: number;
}

/** stdin becomes the gate's pipe; the rest stays as the launch spec asked. */
function gatedStdio(stdio: StdioOptions | undefined): StdioOptions {
  if (Array.isArray(stdio)) return ['pipe', ...(stdio as unknown[]).slice(1)] as StdioOptions;
  const s = stdio ?? 'pipe';
  return ['pipe', s, s];
}

async function comm(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

/** Host pids of every descendant of `root` (for the no-cgroup case). */
async function descendants(root: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // Field 4 (ppid) follows the command name in parentheses, which may itself hold spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parent.set(Number(name), ppid);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const [child, pp] of parent) {
      if (pp === pid) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}

const WRAPPERS = new Set(['bwrap', 'sh', 'dash', 'ionice']);

/** One started, sandboxed app process. */
export class SandboxedProcess implements SandboxedProcessLike {
  readonly exited: Promise<ExitReason>;
  /** The spawned process has exited (cleanup may still run). */
  private readonly childExit: Promise<void>;
  private stopRequested = false;
  private diskOver = false;
  private heapOut = false;
  private done = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly pid: number,
    readonly layers: AppliedLayers,
    /** The node's cgroup, null where the appliance has none. */
    readonly cgroup: NodeCgroup | null,
    private readonly storage: StorageQuota,
    diskCheckMs: number,
    onEnd: () => void,
  ) {
    // V8's own heap limit (the command line's --max-old-space-size) ends the app with this line on stderr.
    let tail = '';
    child.stderr?.on('data', (chunk: Buffer | string) => {
      tail = (tail + chunk.toString()).slice(-4096);
      if (/JavaScript heap out of memory|Reached heap limit/.test(tail)) this.heapOut = true;
    });
    this.childExit = new Promise<void>((r) => child.once('exit', () => r()));
    this.exited = new Promise<ExitReason>((resolveExit) => {
      child.once('exit', (code, signal) => {
        void this.finish(code, signal)
          .then(resolveExit, () => resolveExit(plainExit(code, signal, layers.namespaces)))
          .finally(onEnd);
      });
    });
    if (storage.method === 'measure') {
      this.timer = setInterval(() => void this.checkDisk(), diskCheckMs);
      this.timer.unref();
    }
  }

  private async checkDisk(): Promise<void> {
    if (this.done || this.diskOver || !(await this.storage.overLimit())) return;
    // Seed point 15: over its disk quota, the app is stopped (and restarted by its supervisor).
    this.diskOver = true;
    await this.killAll();
  }

  /**
   * SIGKILL, app processes first: the sandbox's own processes then reap them
   * and exit in order. Killing bubblewrap first would hand its children to
   * init, which on some systems leaves them as zombies.
   */
  private async killAll(): Promise<void> {
    await this.signalAll('SIGKILL', true);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.childExit, new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    if (this.done) return;
    await this.signalAll('SIGKILL', false);
    this.child.kill('SIGKILL');
  }

  private async finish(code: number | null, signal: NodeJS.Signals | null): Promise<ExitReason> {
    this.done = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const oom = this.cgroup !== null ? await this.cgroup.oomKills() : 0;
    try {
      // Nothing of the node outlives it: whatever is left in its cgroup is killed with it.
      await this.cgroup?.destroy();
    } finally {
      await this.storage.release();
    }
    const plain = plainExit(code, signal, this.layers.namespaces);
    if (this.diskOver) return { kind: 'disk quota' };
    if (this.stopRequested) return { kind: 'stopped' };
    const killed = plain.kind === 'signal' && plain.signal === 'SIGKILL';
    if (oom > 0 || (oom < 0 && killed) || this.heapOut) return { kind: 'memory quota' };
    return plain;
  }

  /** The host pids of every process of this node now. */
  async pids(): Promise<number[]> {
    if (this.cgroup !== null) return this.cgroup.pids();
    return this.done ? [] : [this.pid, ...(await descendants(this.pid))];
  }

  /**
   * Signals every process of the node. With `appsOnly`, the sandbox's own
   * processes are spared: bubblewrap dying first would SIGKILL the app
   * (--die-with-parent) and so defeat a graceful SIGTERM.
   */
  private async signalAll(signal: NodeJS.Signals, appsOnly: boolean): Promise<void> {
    const filter = async (pid: number): Promise<boolean> => !appsOnly || !WRAPPERS.has(await comm(pid));
    if (this.cgroup !== null) {
      await this.cgroup.signalAll(signal, filter);
      return;
    }
    for (const pid of await this.pids()) {
      if (!(await filter(pid))) continue;
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    }
  }

  async stop(graceMs = 5000): Promise<ExitReason> {
    if (this.done) return this.exited;
    this.stopRequested = true;
    await this.signalAll('SIGTERM', true);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((r) => (timer = setTimeout(() => r('grace'), graceMs)));
    const first = await Promise.race([this.exited, graceOver]);
    clearTimeout(timer);
    if (first === 'grace') await this.killAll();
    return this.exited;
  }
}

/**
 * Starts one app process inside every layer this appliance has: quota
 * storage, a cgroup with its limits, the gate, bubblewrap, its own uid, and
 * the permission model already in the command line.
 */
export async function launchSandboxed(ctx: LaunchContext, spec: NodeSpec, onEnd: () => void): Promise<SandboxedProcess> {
  validateSpec(spec);
  const { caps, identity } = ctx;
  const uid = identity?.uid ?? process.getuid?.() ?? 0;
  const gid = identity?.gid ?? process.getgid?.() ?? 0;
  if (identity !== null) {
    await assertReachable(
      [spec.appDir, spec.storageDir, ...(spec.readOnlyPaths ?? []), ...(spec.readWritePaths ?? [])],
      identity.uid,
      identity.gid,
    );
    await lendTreeToGroup(spec.appDir, identity.gid);
  }
  const storage = await prepareStorage(caps.diskQuota, {
    storageDir: spec.storageDir,
    imagePath: ctx.imagePath,
    diskMiB: spec.limits.diskMiB,
    owner: identity,
  });
  let cgroup: NodeCgroup | null = null;
  try {
    if (caps.cgroup !== 'none')
      cgroup = await NodeCgroup.create(caps.cgroup, caps.cgroupPaths, `${spec.instance}.${spec.node}`, spec.limits);
    let inner = [spec.launch.command, ...spec.launch.args];
    const useBwrap = caps.bwrap !== null;
    if (useBwrap) {
      const binds: SandboxBind[] = [
        { path: spec.appDir, mode: 'ro' },
        { path: spec.storageDir, mode: 'rw' },
        ...(spec.readOnlyPaths ?? []).map((path) => ({ path, mode: 'ro' as const })),
        ...(spec.readWritePaths ?? []).map((path) => ({ path, mode: 'rw' as const })),
      ];
      const cwd = typeof spec.launch.options.cwd === 'string' ? spec.launch.options.cwd : spec.appDir;
      inner = [
        caps.bwrap,
        ...bwrapArgs({
          roots: await hostRootBinds(spec.launch.command),
          uid,
          gid,
          allowNetwork: spec.allowNetwork,
          features: new Set(caps.bwrapFeatures),
          binds,
          cwd,
          command: inner,
        }),
      ];
    }
    const niced = cgroup === null;
    const ionice = niced ? await findTool('ionice') : null;
    if (ionice !== null) inner = [ionice, '-c', '3', ...inner];
    const sh = (await findTool('sh')) ?? '/bin/sh';
    const options: SpawnOptions = {
      ...spec.launch.options,
      // Fail closed: no environment given means an empty one, never the agent's (it may hold secrets).
      env: { ...(spec.launch.options.env ?? {}) },
      stdio: gatedStdio(spec.launch.options.stdio),
      detached: false,
      // Behind bubblewrap the app's folder is entered inside the sandbox (the host path may not be traversable by the app's uid).
      cwd: useBwrap ? '/' : (spec.launch.options.cwd ?? spec.appDir),
      ...(identity !== null ? { uid: identity.uid, gid: identity.gid } : {}),
    };
    const child = spawn(sh, ['-c', GATE, 'sightline-sandbox', ...inner], options);
    try {
      await Promise.race([once(child, 'spawn'), once(child, 'error').then(([e]) => Promise.reject(e as Error))]);
      const pid = child.pid!;
      await cgroup?.add(pid);
      if (niced) setPriority(pid, FALLBACK_NICE);
      if (cgroup !== null && !(await cgroup.pids()).includes(pid)) throw new Error('the process is not in its cgroup');
    } catch (err) {
      child.kill('SIGKILL');
      throw new SandboxError(
        'SANDBOX_START_FAILED',
        `Could not start ${spec.instance}/${spec.node} in its sandbox: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const layers: AppliedLayers = {
      namespaces: useBwrap,
      networkIsolated: useBwrap && !spec.allowNetwork,
      uid,
      gid,
      cgroup: cgroup?.version ?? 'none',
      niced,
      diskQuota: storage.method,
    };
    const proc = new SandboxedProcess(child, child.pid!, layers, cgroup, storage, ctx.diskCheckMs, onEnd);
    // Placed: now the app may run. (A gate that died already shows up as the exit.)
    child.stdin?.on('error', () => undefined);
    child.stdin?.end('go\n');
    return proc;
  } catch (err) {
    await cgroup?.destroy().catch(() => undefined);
    await storage.release().catch(() => undefined);
    throw err;
  }
}

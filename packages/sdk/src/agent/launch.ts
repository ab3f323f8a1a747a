import type { SpawnOptions } from 'node:child_process';
import { isAbsolute, relative, resolve } from 'node:path';
import { SdkError } from '../errors.js';

/**
 * What {@link appLaunchSpec} needs.
 *
 * @example
 * ```ts
 * const o: AppLaunchOptions = { entry: `${pkg}/app.mjs`, appDir: pkg, storageDir: store, memoryMiB: 256, instance: 'i-1' };
 * ```
 */
export interface AppLaunchOptions {
  /** Absolute path of the app bundle (`app.mjs`), inside `appDir`. */
  readonly entry: string;
  /** The code package folder: the app may read it, nothing else outside `storageDir`. */
  readonly appDir: string;
  /** The app's own writable folder (disk quota applies). */
  readonly storageDir: string;
  /** The descriptor's `resources.memoryMiB`; three quarters becomes the V8 heap limit. */
  readonly memoryMiB: number;
  /** Application instance id, put in the environment for the app's own logs. */
  readonly instance: string;
  /** Node binary; default the agent's own (`process.execPath`). */
  readonly node?: string;
  /** The agent's descriptor of the app's frame ring (FrameRing.fd); the app gets it as {@link RING_FD}. */
  readonly ringFd?: number;
  /** Model ports that get a direct socket to their runner, as descriptors {@link MODEL_FD_BASE}, +1, ... in this order. */
  readonly modelChannels?: readonly string[];
}

/**
 * The descriptor number of the frame ring in the app.
 *
 * @example
 * ```ts
 * ring.layout(RING_FD);
 * ```
 */
export const RING_FD = 4;
/**
 * The descriptor number of the first model socket in the app.
 *
 * @example
 * ```ts
 * const socket = child.stdio[MODEL_FD_BASE]; // the agent's end, handed to the runner
 * ```
 */
export const MODEL_FD_BASE = 5;

/**
 * The flag that turns Node's permission model on, for the Node version that
 * runs the app (the agent's own by default): `--permission` from Node 22.13
 * and 23.5, where the model became stable; `--experimental-permission`
 * before. Node 24 knows only `--permission`, Node 20 only the other.
 *
 * @example
 * ```ts
 * permissionFlag('20.19.0'); // '--experimental-permission'
 * permissionFlag('24.1.0'); // '--permission'
 * ```
 */
export function permissionFlag(nodeVersion: string = process.versions.node): '--permission' | '--experimental-permission' {
  const [major = 0, minor = 0] = nodeVersion.replace(/^v/, '').split('.').map(Number);
  const stable = major >= 24 || (major === 23 && minor >= 5) || (major === 22 && minor >= 13);
  return stable ? '--permission' : '--experimental-permission';
}

/**
 * A ready-to-spawn command line.
 *
 * @example
 * ```ts
 * const { command, args, options }: LaunchSpec = appLaunchSpec(o);
 * spawn(command, [...args], options);
 * ```
 */
export interface LaunchSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly options: SpawnOptions & { serialization: 'advanced' };
  /** Per model port, the descriptor of its socket in the app (and the index of the agent's end in `child.stdio`). */
  readonly modelFds: Readonly<Record<string, number>>;
}

function inside(dir: string, path: string): boolean {
  const r = relative(dir, path);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

/**
 * The exact command line the agent uses for an app process: Node's
 * permission model on (read only the package and its storage, write only
 * storage; no child processes, workers, WASI or native addons: those flags
 * are never passed), the heap capped, a clean environment (no NODE_OPTIONS:
 * it could add `--allow-addons`), and an IPC channel with the V8 serializer
 * for control messages; frames through the ring (`ringFd`, descriptor 4) and
 * tensors through one socket per model (`modelChannels`, descriptors 5...)
 * when given. Descriptors need no file-system permission: the app cannot
 * open anything new through them. cgroup quotas and bubblewrap wrap this
 * from outside.
 *
 * @example
 * ```ts
 * const { command, args, options } = appLaunchSpec({
 *   entry: '/var/lib/sightline/apps/i-1/pkg/app.mjs',
 *   appDir: '/var/lib/sightline/apps/i-1/pkg',
 *   storageDir: '/var/lib/sightline/apps/i-1/storage',
 *   memoryMiB: 256,
 *   instance: 'i-1',
 * });
 * const child = spawn(command, args, options);
 * ```
 */
export function appLaunchSpec(o: AppLaunchOptions): LaunchSpec {
  const appDir = resolve(o.appDir);
  const storageDir = resolve(o.storageDir);
  const entry = resolve(o.entry);
  // Seed point 16: an app reads only its own package and storage.
  if (!isAbsolute(o.appDir) || !isAbsolute(o.storageDir) || !isAbsolute(o.entry)) {
    throw new SdkError('DESCRIPTOR_INVALID', 'appLaunchSpec needs absolute paths.');
  }
  if (!inside(appDir, entry))
    throw new SdkError('DESCRIPTOR_INVALID', 'The app entry must lie inside the package folder.', { details: { entry } });
  if (inside(appDir, storageDir) || inside(storageDir, appDir) || appDir === storageDir) {
    throw new SdkError('DESCRIPTOR_INVALID', 'The storage folder and the package folder must be apart (the package is read-only).');
  }
  if (!Number.isInteger(o.memoryMiB) || o.memoryMiB < 32)
    throw new SdkError('DESCRIPTOR_INVALID', 'memoryMiB must be an integer of at least 32.');
  const heapMiB = Math.max(16, Math.floor((o.memoryMiB * 3) / 4));
  const args = [
    permissionFlag(),
    `--allow-fs-read=${appDir}`,
    `--allow-fs-read=${storageDir}`,
    `--allow-fs-write=${storageDir}`,
    `--max-old-space-size=${heapMiB}`,
    '--disable-warning=ExperimentalWarning',
    entry,
  ];
  const modelFds: Record<string, number> = {};
  const stdio: Array<'ignore' | 'pipe' | 'ipc' | number> = ['ignore', 'pipe', 'pipe', 'ipc'];
  const channels = o.modelChannels ?? [];
  if (o.ringFd !== undefined || channels.length > 0) stdio.push(o.ringFd ?? 'ignore');
  // Socket pairs (Node makes one per 'pipe' beyond stdio 2): the agent hands its ends to the model runners.
  channels.forEach((port, i) => {
    modelFds[port] = MODEL_FD_BASE + i;
    stdio.push('pipe');
  });
  return {
    command: o.node ?? process.execPath,
    args,
    options: {
      cwd: appDir,
      env: { NODE_ENV: 'production', SIGHTLINE_APP_INSTANCE: o.instance, SIGHTLINE_STORAGE_DIR: storageDir, TZ: 'UTC' },
      stdio,
      serialization: 'advanced',
    },
    modelFds,
  };
}

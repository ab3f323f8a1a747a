import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { Clock, Random } from '../clock.js';

/**
 * A ready-to-spawn app command line: the shape of @sightline/sdk's
 * `appLaunchSpec()` result (kept structural so the sandbox does not depend
 * on the SDK). The sandbox wraps it; it never drops the permission flags.
 */
export interface AppCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly options: SpawnOptions;
}

/** Quotas of one code node (the descriptor's `resources`). */
export interface SandboxLimits {
  /** cgroup memory limit (swap off); the V8 heap limit is in the command line already. */
  readonly memoryMiB: number;
  /** CPU in cores (0.5 = half a core): the cgroup CPU quota. */
  readonly cpuCores: number;
  /** Size cap of the storage folder; 0 = the app may write nothing. */
  readonly diskMiB: number;
}

/** One code node to run: what `appLaunchSpec` got, plus what the sandbox needs around it. */
export interface NodeSpec {
  /** Application instance id (`[A-Za-z0-9_.-]`, at most 64). */
  readonly instance: string;
  /** Node name from the manifest (same character set). */
  readonly node: string;
  /** `appLaunchSpec({ entry, appDir, storageDir, memoryMiB, instance })`. */
  readonly launch: AppCommand;
  /**
   * The code package folder (bound read-only, at the same path). When the
   * agent is root its group becomes the app's gid (folders 0750, files 0440):
   * give each node its own copy.
   */
  readonly appDir: string;
  /**
   * The node's storage folder (bound read-write, at the same path; the disk
   * quota applies). Empty, or made by an earlier run: a quota image is only
   * laid over an empty folder. Owned by the app's uid, mode 0700.
   * Every folder above appDir, storageDir and the extra paths must let the
   * app's uid pass through (o+x, e.g. 0711), or launch fails with
   * SANDBOX_SPEC_INVALID naming the folder.
   */
  readonly storageDir: string;
  /** More folders or files the app may read (e.g. a model folder), bound read-only at the same path. */
  readonly readOnlyPaths?: readonly string[];
  /** Folders the app may write besides storage (e.g. a model-runner socket folder), bound read-write. */
  readonly readWritePaths?: readonly string[];
  /** The descriptor's `network.outbound`; without it the app gets an empty network namespace. */
  readonly allowNetwork: boolean;
  readonly limits: SandboxLimits;
}

/** How the storage folder's size is enforced. */
export type DiskQuotaMethod =
  /** A fixed-size ext4 image loop-mounted on the storage folder: writes past the size fail with ENOSPC; persistent. */
  | 'loop-image'
  /** The folder is measured periodically and the app stopped (reason `disk quota`) when over. */
  | 'measure';

export type CgroupVersion = 'v2' | 'v1' | 'none';

/** What this appliance allows, found once by {@link probeSandbox}. */
export interface SandboxCapabilities {
  /** Path of a bubblewrap that created namespaces in a trial run, or null. */
  readonly bwrap: string | null;
  /** Optional bubblewrap options this version has (`--disable-userns`). */
  readonly bwrapFeatures: readonly string[];
  /** The agent runs as root: it can give each app its own uid, mount quota images and write cgroups. */
  readonly root: boolean;
  readonly cgroup: CgroupVersion;
  /** v2: the parent cgroup folder; v1: controller name → the parent folder in its hierarchy. */
  readonly cgroupPaths: Readonly<Record<string, string>>;
  /** The method used for persistent storage (`loop-image` or `measure`). */
  readonly diskQuota: DiskQuotaMethod;
  /** The permission model flag this Node accepts (`--experimental-permission` on Node 20/21, `--permission` later). */
  readonly permissionFlag: string;
  /** The heartbeat's `isolation` field. */
  readonly report: IsolationReportShape;
}

/** Same shape as @sightline/protocol `appsApi.IsolationReport` (checked in index.ts). */
export interface IsolationReportShape {
  namespaces: { present: boolean; detail: string };
  permissionModel: { present: boolean; detail: string };
  cgroups: { version: CgroupVersion; detail: string };
  diskQuota: { present: boolean; detail: string };
}

export interface ProbeOptions {
  /** bubblewrap to use; default `/usr/bin/bwrap` then `/usr/local/bin/bwrap`; null: do not use namespaces. */
  readonly bwrapPath?: string | null;
  /** Name of the Sightline parent cgroup (default `sightline`). */
  readonly cgroupParent?: string;
  /** Force a cgroup flavour off (e.g. `none` to test the nice fallback). */
  readonly cgroupVersion?: CgroupVersion;
  /** Refuse loop images (e.g. no loop devices); default: use them where root and `mkfs.ext4` exist. */
  readonly allowLoopImages?: boolean;
}

/** The layers applied to one running process, as they really were. */
export interface AppliedLayers {
  /** bubblewrap namespaces (user, pid, ipc, uts, mount, cgroup; net unless allowed). */
  readonly namespaces: boolean;
  /** Network namespace empty (no route anywhere, loopback only). */
  readonly networkIsolated: boolean;
  /** The uid the app runs as on the host (the agent's own when it is not root). */
  readonly uid: number;
  readonly gid: number;
  readonly cgroup: CgroupVersion;
  /** Scheduling priority fallback used (no writable cgroups). */
  readonly niced: boolean;
  readonly diskQuota: DiskQuotaMethod | 'none';
}

/** Why a process ended. */
export type ExitReason =
  | { readonly kind: 'code'; readonly code: number }
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'memory quota' }
  | { readonly kind: 'disk quota' }
  /** Ended because the supervisor (or the caller) stopped it. */
  | { readonly kind: 'stopped' };

export interface SandboxOptions extends ProbeOptions {
  /**
   * A folder of the agent's own (mode 0700) for the sandbox's state: disk
   * images. Never bound into an app.
   */
  readonly stateDir: string;
  /** Unprivileged ids given to apps, one per running node (default first 61000, count 1000). */
  readonly uidRange?: { readonly first: number; readonly count: number };
  /** How often the `measure` disk quota walks the storage folder (default 5000 ms). */
  readonly diskCheckMs?: number;
  readonly clock?: Clock;
  readonly random?: Random;
}

/** One started sandboxed process (no restarts: see {@link NodeSupervisorLike}). */
export interface SandboxedProcessLike {
  /** The spawned process (the outer wrapper when namespaces are on): its stdio and IPC channel are the app's. */
  readonly child: ChildProcess;
  readonly pid: number;
  readonly layers: AppliedLayers;
  /** Resolves once the process and everything it started are gone, with the reason; cleanup done. */
  readonly exited: Promise<ExitReason>;
  /** SIGTERM every process of the sandbox, wait `graceMs` (default 5000), then SIGKILL them all; resolves with the reason. */
  stop(graceMs?: number): Promise<ExitReason>;
}

export interface RestartPolicy {
  /** First delay (default 1000 ms); doubles each restart up to `maxMs`, with jitter. */
  readonly baseMs?: number;
  /** Cap of the delay (default 60000 ms). */
  readonly maxMs?: number;
  /** A run that lasted this long resets the backoff (default 60000 ms). */
  readonly resetAfterMs?: number;
  /** Give up (state `failed`) after this many restarts in a row; default unlimited. */
  readonly maxRestarts?: number;
}

export type SupervisorState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

export type SupervisorEvent =
  /** A process started; attach the app channel (AppEndpoint) to `child` here, synchronously. */
  | {
      readonly type: 'started';
      readonly at: number;
      readonly restarts: number;
      readonly child: ChildProcess;
      readonly layers: AppliedLayers;
    }
  /** It ended on its own; `restartInMs` is null when no restart follows. */
  | { readonly type: 'exited'; readonly at: number; readonly reason: ExitReason; readonly restartInMs: number | null }
  /** The sandbox could not be set up or the process not spawned (counts as a failed run; retried with backoff). */
  | { readonly type: 'start-failed'; readonly at: number; readonly error: Error; readonly restartInMs: number | null }
  /** stop() finished: nothing of it is left. */
  | { readonly type: 'stopped'; readonly at: number; readonly reason: ExitReason };

export interface SupervisorOptions {
  readonly restart?: RestartPolicy;
  /** Grace between SIGTERM and SIGKILL in stop() (default 5000 ms). */
  readonly graceMs?: number;
  readonly onEvent?: (event: SupervisorEvent) => void;
}

/** Status of one node in the shape of the protocol's `nodeStatus` (without metrics). */
export interface NodeStatusShape {
  node: string;
  state: SupervisorState;
  restarts: number;
  lastExit?: string;
}

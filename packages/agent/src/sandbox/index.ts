/**
 * The app sandbox: each code node runs in its own process, isolated in
 * layers, each reported present or absent in the heartbeat's `isolation`:
 *
 * - namespaces (bubblewrap): own user, pid, ipc, uts, mount, cgroup and (unless
 *   the descriptor asks for outbound access) network namespaces, a minimal
 *   read-only root with only the package, model and storage folders;
 * - its own unprivileged uid (when the agent runs as root);
 * - Node's permission model (always: the SDK's `appLaunchSpec` flags);
 * - quotas: cgroup v2 or v1 memory (swap off) and CPU, else scheduling
 *   priority; the storage folder's size enforced (a loop-mounted image, else
 *   measured with the app stopped when over).
 *
 * @example
 * ```ts
 * const sandbox = await Sandbox.create({ stateDir: join(dataDir, 'sandbox') });
 * heartbeat.isolation = sandbox.report;
 * const sup = sandbox.supervise(
 *   { instance, node, launch: appLaunchSpec({ entry, appDir, storageDir, memoryMiB, instance }), appDir, storageDir,
 *     allowNetwork: false, limits: { memoryMiB, cpuCores: 0.5, diskMiB: 64 } },
 *   { onEvent: (e) => { if (e.type === 'started') serve(e.child); else report(e); } },
 * );
 * sup.start();
 * await sup.stop();
 * ```
 */
import type { appsApi } from '@sightline/protocol';
import type { IsolationReportShape } from './types.js';

export { Sandbox, probeSandbox, probeIsolation } from './sandbox.js';
export { NodeSupervisor, type Launcher } from './supervisor.js';
export type { SandboxedProcess } from './launch.js';
export type { NodeCgroup } from './cgroup.js';
export { describeExit } from './exit.js';
export { SandboxError, type SandboxErrorCode } from './errors.js';
export type {
  AppCommand,
  AppliedLayers,
  CgroupVersion,
  DiskQuotaMethod,
  ExitReason,
  IsolationReportShape,
  NodeSpec,
  NodeStatusShape,
  ProbeOptions,
  RestartPolicy,
  SandboxCapabilities,
  SandboxedProcessLike,
  SandboxLimits,
  SandboxOptions,
  SupervisorEvent,
  SupervisorOptions,
  SupervisorState,
} from './types.js';

// The report must stay assignable both ways to the protocol's type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _reportMatchesProtocol: Same<IsolationReportShape, appsApi.IsolationReport> = true;

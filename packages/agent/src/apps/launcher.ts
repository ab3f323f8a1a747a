import { spawn } from 'node:child_process';
import { systemClock, type Clock } from '../clock.js';
import { plainExit } from '../sandbox/exit.js';
import { NodeSupervisor } from '../sandbox/supervisor.js';
import type { ExitReason, NodeSpec, SandboxedProcessLike, SupervisorOptions } from '../sandbox/types.js';

/**
 * Starts and supervises code nodes. The agent passes the sandbox
 * (`Sandbox.supervise`: namespaces, own uid, cgroup and disk quotas around
 * Node's permission model); {@link permissionModelLauncher} is the layer that
 * is always there, for appliances and tests without the sandbox.
 */
export interface NodeLauncher {
  supervise(spec: NodeSpec, options: SupervisorOptions): NodeSupervisor;
  /** Deletes a removed node's storage for good (a quota image included); after its supervisor stopped. */
  discardStorage?(spec: Pick<NodeSpec, 'instance' | 'node' | 'storageDir'>): Promise<void>;
}

/**
 * Runs the app command as it is (`appLaunchSpec`: Node's permission model,
 * heap limit, clean environment), without namespaces or cgroups, restarting
 * it with backoff. The heartbeat's isolation report says which layers are
 * missing.
 */
export function permissionModelLauncher(clock: Clock = systemClock): NodeLauncher {
  return {
    supervise(spec, options) {
      const launch = (): Promise<SandboxedProcessLike> =>
        new Promise((resolve, reject) => {
          const child = spawn(spec.launch.command, [...spec.launch.args], spec.launch.options);
          let stopping = false;
          const exited = new Promise<ExitReason>((done) =>
            child.once('exit', (code, signal) => done(stopping ? { kind: 'stopped' } : plainExit(code, signal, false))),
          );
          child.once('error', reject);
          child.once('spawn', () => {
            const pid = child.pid ?? -1;
            resolve({
              child,
              pid,
              layers: {
                namespaces: false,
                networkIsolated: false,
                uid: process.getuid?.() ?? -1,
                gid: process.getgid?.() ?? -1,
                cgroup: 'none',
                niced: false,
                diskQuota: 'none',
              },
              exited,
              async stop(graceMs = 5000) {
                stopping = true;
                if (child.exitCode === null && child.signalCode === null) {
                  child.kill('SIGTERM');
                  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
                  await exited;
                  clearTimeout(timer);
                }
                return exited;
              },
            });
          });
        });
      return new NodeSupervisor(spec.node, launch, options, clock);
    },
  };
}

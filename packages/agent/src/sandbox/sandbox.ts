import { chmod, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { appsApi } from '@sightline/protocol';
import { systemClock, type Clock, type Random } from '../clock.js';
import { unmountStorage } from './disk.js';
import { launchSandboxed, validateSpec, type SandboxedProcess } from './launch.js';
import { probeCapabilities } from './probe.js';
import { NodeSupervisor } from './supervisor.js';
import { DEFAULT_APP_UID_FIRST, UidPool } from './uid-pool.js';
import type { NodeSpec, ProbeOptions, SandboxCapabilities, SandboxOptions, SupervisorOptions } from './types.js';

const probes = new Map<string, Promise<SandboxCapabilities>>();

/**
 * What this appliance allows (bubblewrap, root, cgroups, loop images, the
 * permission model), each tried for real once and then cached per options:
 * these are facts of the machine that do not change while the agent runs.
 */
export function probeSandbox(options: ProbeOptions = {}): Promise<SandboxCapabilities> {
  const key = [options.bwrapPath, options.cgroupParent, options.cgroupVersion, options.allowLoopImages]
    .map((v) => (v === undefined ? '-' : JSON.stringify(v)))
    .join(' ');
  let p = probes.get(key);
  if (p === undefined) {
    p = probeCapabilities(options);
    probes.set(key, p);
  }
  return p;
}

/** The heartbeat's `isolation` field: each layer present or absent on this appliance, and why. */
export async function probeIsolation(options: ProbeOptions = {}): Promise<appsApi.IsolationReport> {
  return (await probeSandbox(options)).report;
}

/**
 * The agent's app sandbox: one per agent. Gives each running node its own
 * uid from the configured range, launches it in every layer the appliance
 * has, and supervises it.
 *
 * @example
 * ```ts
 * const sandbox = await Sandbox.create({ stateDir: join(dataDir, 'sandbox') });
 * const sup = sandbox.supervise(spec, { onEvent });
 * sup.start();
 * ```
 */
export class Sandbox {
  private readonly pool: UidPool;
  private readonly clock: Clock;
  private readonly random: Random;

  private constructor(
    readonly capabilities: SandboxCapabilities,
    private readonly options: SandboxOptions,
  ) {
    this.pool = new UidPool(options.uidRange?.first ?? DEFAULT_APP_UID_FIRST, options.uidRange?.count ?? 1000);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  /** Probes the appliance (cached) and prepares the sandbox's state folder (mode 0700). */
  static async create(options: SandboxOptions): Promise<Sandbox> {
    const caps = await probeSandbox(options);
    await mkdir(join(options.stateDir, 'disk'), { recursive: true, mode: 0o700 });
    await chmod(options.stateDir, 0o700);
    return new Sandbox(caps, options);
  }

  /** The heartbeat's `isolation` field. */
  get report(): appsApi.IsolationReport {
    return this.capabilities.report;
  }

  private imagePath(spec: Pick<NodeSpec, 'instance' | 'node'>): string {
    return join(this.options.stateDir, 'disk', `${spec.instance}.${spec.node}.img`);
  }

  /**
   * Starts one run of a node (no restarts: see {@link supervise}). Its uid
   * returns to the pool once it has ended.
   */
  async launch(spec: NodeSpec): Promise<SandboxedProcess> {
    validateSpec(spec);
    let identity: { uid: number; gid: number } | null = null;
    if (this.capabilities.root) {
      // The uid of the last run, when free, so the storage needs no re-chown.
      const previous = await stat(spec.storageDir).then(
        (s) => s.uid,
        () => undefined,
      );
      const uid = this.pool.allocate(`${spec.instance}/${spec.node}`, previous);
      identity = { uid, gid: uid };
    }
    const release = (): void => {
      if (identity !== null) this.pool.release(identity.uid);
    };
    try {
      return await launchSandboxed(
        { caps: this.capabilities, identity, imagePath: this.imagePath(spec), diskCheckMs: this.options.diskCheckMs ?? 5000 },
        spec,
        release,
      );
    } catch (err) {
      release();
      throw err;
    }
  }

  /** A supervisor for the node (call start()); each restart is a fresh launch. */
  supervise(spec: NodeSpec, options: SupervisorOptions = {}): NodeSupervisor {
    validateSpec(spec);
    return new NodeSupervisor(spec.node, () => this.launch(spec), options, this.clock, this.random);
  }

  /**
   * Deletes a node's storage for good (the instance was removed): the quota
   * image and the folder. Call only after its supervisor has stopped.
   */
  async discardStorage(spec: Pick<NodeSpec, 'instance' | 'node' | 'storageDir'>): Promise<void> {
    await unmountStorage(spec.storageDir);
    await rm(this.imagePath(spec), { force: true });
    await rm(spec.storageDir, { recursive: true, force: true });
  }
}

import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from './errors.js';
import type { CgroupVersion, SandboxLimits } from './types.js';

const CPU_PERIOD_US = 100_000;
/** The kernel refuses a CFS quota under 1 ms. */
const CPU_MIN_QUOTA_US = 1000;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readCounter(file: string, key: string): Promise<number> {
  try {
    const text = await readFile(file, 'utf8');
    const line = text.split('\n').find((l) => l.startsWith(`${key} `));
    return line === undefined ? 0 : Number(line.slice(key.length + 1)) || 0;
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One code node's cgroup (v2: one folder; v1: one folder in the memory and
 * one in the cpu hierarchy), made with its limits before any process joins.
 */
export class NodeCgroup {
  private constructor(
    readonly version: Exclude<CgroupVersion, 'none'>,
    /** v2: `{ unified }`; v1: `{ memory, cpu }`. */
    readonly dirs: Readonly<Record<string, string>>,
  ) {}

  /**
   * Makes (or remakes, after a crash left one) the node's cgroup under the
   * Sightline parent and writes its limits. Fails closed: a limit that
   * cannot be written means no cgroup, and the node does not start.
   */
  static async create(
    version: CgroupVersion,
    parents: Readonly<Record<string, string>>,
    name: string,
    limits: SandboxLimits,
  ): Promise<NodeCgroup> {
    if (version === 'none') throw new SandboxError('SANDBOX_CGROUP_FAILED', 'No writable cgroup hierarchy on this appliance.');
    const dirs: Record<string, string> = {};
    for (const [controller, parent] of Object.entries(parents)) dirs[controller] = join(parent, name);
    const cg = new NodeCgroup(version, dirs);
    const memory = BigInt(limits.memoryMiB) * 1024n * 1024n;
    const quota = Math.max(CPU_MIN_QUOTA_US, Math.round(limits.cpuCores * CPU_PERIOD_US));
    try {
      await cg.destroy(); // a stale one from before an agent crash
      for (const dir of Object.values(dirs)) await mkdir(dir);
      if (version === 'v2') {
        const dir = dirs.unified!;
        // Seed point 15: memory and CPU are constrained per app.
        await writeFile(join(dir, 'memory.max'), String(memory));
        if (await exists(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0');
        // One OOM kill takes the whole node (bubblewrap and its init too), so nothing half-dead remains.
        if (await exists(join(dir, 'memory.oom.group'))) await writeFile(join(dir, 'memory.oom.group'), '1');
        await writeFile(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
      } else {
        await writeFile(join(dirs.memory!, 'memory.limit_in_bytes'), String(memory));
        // memsw (memory + swap) equal to the memory limit: no swap. Absent when swap accounting is off.
        if (await exists(join(dirs.memory!, 'memory.memsw.limit_in_bytes')))
          await writeFile(join(dirs.memory!, 'memory.memsw.limit_in_bytes'), String(memory));
        await writeFile(join(dirs.cpu!, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        await writeFile(join(dirs.cpu!, 'cpu.cfs_quota_us'), String(quota));
      }
    } catch (err) {
      await cg.destroy().catch(() => undefined);
      if (err instanceof SandboxError) throw err;
      throw new SandboxError('SANDBOX_CGROUP_FAILED', `Could not set up the cgroup ${name}: ${(err as Error).message}`, { cause: err });
    }
    return cg;
  }

  /** The folder whose `cgroup.procs` lists the node's processes. */
  private get main(): string {
    return this.version === 'v2' ? this.dirs.unified! : this.dirs.memory!;
  }

  /** Moves a process (and so everything it starts later) into every hierarchy of the node. */
  async add(pid: number): Promise<void> {
    for (const dir of Object.values(this.dirs)) await writeFile(join(dir, 'cgroup.procs'), String(pid));
  }

  /** Processes in the node's cgroup now. */
  async pids(): Promise<number[]> {
    try {
      const text = await readFile(join(this.main, 'cgroup.procs'), 'utf8');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map(Number);
    } catch {
      return [];
    }
  }

  /** OOM kills inside the node's cgroup so far (v2 memory.events; v1 memory.oom_control, kernel 4.13+). */
  async oomKills(): Promise<number> {
    if (this.version === 'v2') return readCounter(join(this.dirs.unified!, 'memory.events'), 'oom_kill');
    const kills = await readCounter(join(this.dirs.memory!, 'memory.oom_control'), 'oom_kill');
    if (kills > 0) return kills;
    // Older v1 kernels have no counter: a limit hit that ended in a kill counts (the caller checks for SIGKILL).
    try {
      return Number((await readFile(join(this.dirs.memory!, 'memory.failcnt'), 'utf8')).trim()) > 0 ? -1 : 0;
    } catch {
      return 0;
    }
  }

  /** The limit files as the kernel now reports them (for tests and `device describe`). */
  async readLimits(): Promise<Record<string, string>> {
    const files =
      this.version === 'v2'
        ? [
            ['unified', 'memory.max'],
            ['unified', 'memory.swap.max'],
            ['unified', 'cpu.max'],
          ]
        : [
            ['memory', 'memory.limit_in_bytes'],
            ['memory', 'memory.memsw.limit_in_bytes'],
            ['cpu', 'cpu.cfs_quota_us'],
            ['cpu', 'cpu.cfs_period_us'],
          ];
    const out: Record<string, string> = {};
    for (const [c, f] of files) {
      try {
        out[f!] = (await readFile(join(this.dirs[c!]!, f!), 'utf8')).trim();
      } catch {
        // not offered by this kernel
      }
    }
    return out;
  }

  /** Sends a signal to every process in the cgroup; returns how many there were. */
  async signalAll(signal: NodeJS.Signals, filter?: (pid: number) => Promise<boolean>): Promise<number> {
    const pids = await this.pids();
    for (const pid of pids) {
      if (filter !== undefined && !(await filter(pid))) continue;
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    return pids.length;
  }

  /**
   * Kills everything left in the cgroup and removes it. v2 has cgroup.kill;
   * v1 needs a kill loop (a process may fork while we read the list, though
   * apps cannot start processes: the permission model refuses it).
   */
  async destroy(): Promise<void> {
    for (let round = 0; round < 100; round++) {
      const present = await Promise.all(Object.values(this.dirs).map((d) => exists(d)));
      if (!present.some(Boolean)) return;
      if (this.version === 'v2' && (await exists(join(this.main, 'cgroup.kill')))) {
        await writeFile(join(this.main, 'cgroup.kill'), '1').catch(() => undefined);
      } else {
        await this.signalAll('SIGKILL');
      }
      let removed = true;
      for (const dir of Object.values(this.dirs)) {
        try {
          await rmdir(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') removed = false;
        }
      }
      if (removed) return;
      await sleep(20);
    }
    throw new SandboxError('SANDBOX_CGROUP_FAILED', `The cgroup ${this.main} still holds processes after SIGKILL.`);
  }
}

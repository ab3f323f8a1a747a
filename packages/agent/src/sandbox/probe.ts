import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { permissionFlag } from '@sightline/sdk/agent';
import { bwrapArgs, hostRootBinds } from './bwrap-args.js';
import { findTool, run } from './exec.js';
import type { CgroupVersion, DiskQuotaMethod, IsolationReportShape, ProbeOptions, SandboxCapabilities } from './types.js';

/** The permission model flag the SDK's appLaunchSpec passes on this Node. */
export const PERMISSION_FLAG = permissionFlag();
/** Used for the trial run of bubblewrap when the agent is root: `nobody`. */
const TRIAL_UID = 65534;

interface Mount {
  readonly point: string;
  readonly fstype: string;
  readonly superOptions: readonly string[];
}

/** `/proc/self/mountinfo` → mounts (fields per proc(5)). */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const point = left.split(' ')[4];
    const [fstype, , superOpts] = right.split(' ');
    if (point === undefined || fstype === undefined) continue;
    out.push({ point: point.replace(/\\040/g, ' '), fstype, superOptions: (superOpts ?? '').split(',') });
  }
  return out;
}

async function writable(path: string): Promise<boolean> {
  try {
    await access(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 120);
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? message(err);
}

interface CgroupProbe {
  version: CgroupVersion;
  paths: Record<string, string>;
  detail: string;
}

/**
 * cgroup v2 first (a cgroup2 mount that offers memory and cpu and lets the
 * agent enable them for a Sightline parent), then v1 (memory and cpu
 * hierarchies with a writable Sightline parent), else none.
 */
async function probeCgroups(parent: string, force: CgroupVersion | undefined): Promise<CgroupProbe> {
  const fallback = 'CPU by scheduling priority (nice 10, ionice idle); memory by the V8 heap limit only';
  if (force === 'none') return { version: 'none', paths: {}, detail: `cgroups switched off by configuration: ${fallback}` };
  let mounts: Mount[] = [];
  try {
    mounts = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
  } catch {
    // No /proc: no cgroups either.
  }
  const notes: string[] = [];
  if (force !== 'v1') {
    for (const m of mounts.filter((x) => x.fstype === 'cgroup2')) {
      try {
        const controllers = (await readFile(join(m.point, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/);
        if (!controllers.includes('memory') || !controllers.includes('cpu')) {
          notes.push(`v2 at ${m.point} has only: ${controllers.join(' ') || 'none'}`);
          continue;
        }
        const dir = join(m.point, parent);
        await writeFile(join(m.point, 'cgroup.subtree_control'), '+memory +cpu');
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'cgroup.subtree_control'), '+memory +cpu');
        return {
          version: 'v2',
          paths: { unified: dir },
          detail: `cgroup v2 at ${dir}: memory.max, memory.swap.max=0, cpu.max per node; OOM kills reported`,
        };
      } catch (err) {
        notes.push(`v2 at ${m.point}: ${errCode(err)}`);
      }
    }
  }
  if (force !== 'v2') {
    const paths: Record<string, string> = {};
    for (const controller of ['memory', 'cpu']) {
      const m = mounts.find((x) => x.fstype === 'cgroup' && x.superOptions.includes(controller));
      if (m === undefined) continue;
      const dir = join(m.point, parent);
      try {
        await mkdir(dir, { recursive: true });
        if (await writable(join(dir, 'cgroup.procs'))) paths[controller] = dir;
        else notes.push(`v1 ${controller}: not writable`);
      } catch (err) {
        notes.push(`v1 ${controller}: ${errCode(err)}`);
      }
    }
    if (paths.memory !== undefined && paths.cpu !== undefined) {
      return {
        version: 'v1',
        paths,
        detail: `cgroup v1 ${paths.memory} and ${paths.cpu}: memory.limit_in_bytes (+memsw), cpu.cfs_quota_us per node; OOM kills reported`,
      };
    }
  }
  return {
    version: 'none',
    paths: {},
    detail: `no writable cgroup memory+cpu: ${fallback} (${notes.join('; ') || 'none mounted'})`.slice(0, 256),
  };
}

interface BwrapProbe {
  path: string | null;
  features: string[];
  detail: string;
}

/** Optional bubblewrap options used when this version has them. */
const BWRAP_OPTIONAL = ['--disable-userns'];

/** A trial sandbox as apps get it (as an unprivileged uid when root), running `true`. */
async function probeBwrap(option: string | null | undefined, root: boolean): Promise<BwrapProbe> {
  if (option === null) return { path: null, features: [], detail: 'bubblewrap switched off by configuration' };
  const path = option ?? (await findTool('bwrap'));
  if (path === null) return { path: null, features: [], detail: 'bubblewrap not installed (Debian package bubblewrap)' };
  let features: string[] = [];
  try {
    const help = await run(path, ['--help']);
    features = BWRAP_OPTIONAL.filter((f) => help.includes(`${f} `));
  } catch {
    // an old bubblewrap: the required options only
  }
  const truePath = (await findTool('true')) ?? '/usr/bin/true';
  const uid = root ? TRIAL_UID : (process.getuid?.() ?? 0);
  const gid = root ? TRIAL_UID : (process.getgid?.() ?? 0);
  const args = bwrapArgs({
    roots: await hostRootBinds(truePath),
    uid,
    gid,
    allowNetwork: false,
    features: new Set(features),
    binds: [],
    cwd: '/',
    command: [truePath],
  });
  try {
    await run(path, args, root ? { uid, gid } : {});
    const version = (await run(path, ['--version'])).trim();
    const who = root ? 'own uid per app' : "apps share the agent's uid (agent not root)";
    return {
      path,
      features,
      detail: `${version} (${path}): user, pid, ipc, uts, mount, cgroup, net namespaces; read-only minimal root; ${who}`,
    };
  } catch (err) {
    return { path: null, features: [], detail: `bubblewrap present but cannot create namespaces here: ${message(err)}`.slice(0, 256) };
  }
}

/** Can this machine loop-mount a fresh ext4 image? Tried once for real. */
async function probeLoopImages(root: boolean, allowed: boolean | undefined): Promise<{ method: DiskQuotaMethod; detail: string }> {
  const measured = 'storage folder measured periodically; the app is stopped when over its quota';
  if (allowed === false) return { method: 'measure', detail: `${measured} (loop images switched off)` };
  if (!root) return { method: 'measure', detail: `${measured} (agent not root: no loop mounts)` };
  const mkfs = await findTool('mkfs.ext4');
  if (mkfs === null) return { method: 'measure', detail: `${measured} (mkfs.ext4 missing: Debian e2fsprogs)` };
  const dir = await mkdtemp(join(tmpdir(), 'sl-loop-probe-'));
  const image = join(dir, 'probe.img');
  const mnt = join(dir, 'mnt');
  try {
    await mkdir(mnt);
    await writeFile(image, '');
    await run('truncate', ['-s', '1M', image]);
    await run(mkfs, ['-q', '-F', '-O', '^has_journal', '-m', '0', image]);
    await run('mount', ['-o', 'loop,nosuid,nodev,noexec', image, mnt]);
    await run('umount', [mnt]);
    return {
      method: 'loop-image',
      detail: 'a fixed-size ext4 image loop-mounted on each storage folder: writes past the quota fail (ENOSPC)',
    };
  } catch (err) {
    return { method: 'measure', detail: `${measured} (loop mount failed: ${message(err)})`.slice(0, 256) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Does the permission model really refuse a read here? */
async function probePermissionModel(): Promise<{ present: boolean; detail: string }> {
  const script =
    "try{require('fs').readFileSync('/proc/self/status');process.exit(3)}catch(e){process.exit(e.code==='ERR_ACCESS_DENIED'?0:4)}";
  try {
    await run(process.execPath, [PERMISSION_FLAG, '--allow-fs-read=/nonexistent', '-e', script]);
    return {
      present: true,
      detail: `Node ${process.version} ${PERMISSION_FLAG}: reads only its package and storage, writes only storage; no child processes, workers or addons`,
    };
  } catch (err) {
    return {
      present: false,
      detail: `Node ${process.version}: the permission model did not refuse a read (${message(err)})`.slice(0, 256),
    };
  }
}

/** Finds what this appliance allows; every layer is tried for real, not guessed from files. */
export async function probeCapabilities(options: ProbeOptions = {}): Promise<SandboxCapabilities> {
  const root = process.getuid?.() === 0;
  const [bwrap, cgroups, disk, permission] = await Promise.all([
    probeBwrap(options.bwrapPath, root),
    probeCgroups(options.cgroupParent ?? 'sightline', options.cgroupVersion),
    probeLoopImages(root, options.allowLoopImages),
    probePermissionModel(),
  ]);
  // Without namespaces the network is the host's; a root agent still gives each app its own uid.
  const nsDetail =
    bwrap.path !== null
      ? bwrap.detail
      : `${bwrap.detail}; network not isolated; ${root ? 'own uid per app still applies' : "apps share the agent's uid"}`;
  const report: IsolationReportShape = {
    namespaces: { present: bwrap.path !== null, detail: nsDetail.slice(0, 256) },
    permissionModel: { present: permission.present, detail: permission.detail.slice(0, 256) },
    cgroups: { version: cgroups.version, detail: cgroups.detail.slice(0, 256) },
    diskQuota: { present: true, detail: disk.detail.slice(0, 256) },
  };
  return {
    bwrap: bwrap.path,
    bwrapFeatures: bwrap.features,
    root,
    cgroup: cgroups.version,
    cgroupPaths: cgroups.paths,
    diskQuota: disk.method,
    permissionFlag: PERMISSION_FLAG,
    report,
  };
}

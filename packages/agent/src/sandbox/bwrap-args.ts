import { lstat, readlink, realpath } from 'node:fs/promises';

/** A folder or file made visible inside the sandbox at the same path. */
export interface SandboxBind {
  readonly path: string;
  readonly mode: 'ro' | 'rw';
}

export interface BwrapPlan {
  /** Arguments that build the minimal read-only root (see {@link hostRootBinds}). */
  readonly roots: readonly string[];
  readonly uid: number;
  readonly gid: number;
  readonly allowNetwork: boolean;
  readonly binds: readonly SandboxBind[];
  /** bubblewrap options this version knows (from `--help`): only these optional ones are used. */
  readonly features?: ReadonlySet<string>;
  readonly cwd: string;
  readonly command: readonly string[];
}

/** Files name resolution and TLS need, bound only for apps with outbound network access. */
const NETWORK_FILES = ['/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/gai.conf', '/etc/ssl', '/etc/ca-certificates'];

/**
 * The host's system folders the node binary needs: /usr read-only and the
 * merged-/usr links (or real folders on older systems), plus the binary
 * itself where it lies outside /usr. Nothing of /etc, /var, /home, /root or
 * the agent's data folder.
 */
export async function hostRootBinds(binary: string): Promise<string[]> {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const st = await lstat(top);
      if (st.isSymbolicLink()) args.push('--symlink', await readlink(top), top);
      else if (st.isDirectory()) args.push('--ro-bind', top, top);
    } catch {
      // absent on this system
    }
  }
  if (!binary.startsWith('/usr/')) args.push('--ro-bind', await realpath(binary), binary);
  return args;
}

/**
 * The bubblewrap command line for one app (pure, so it is tested without
 * running anything). Every namespace is new; the network one is shared only
 * when the descriptor asks for outbound access.
 */
export function bwrapArgs(plan: BwrapPlan): string[] {
  const has = (f: string): boolean => plan.features?.has(f) === true;
  const args = ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try'];
  if (!plan.allowNetwork) args.push('--unshare-net');
  // No nested user namespaces: they are the usual first step of a kernel exploit.
  if (has('--disable-userns')) args.push('--disable-userns');
  // The app is pid 1 of its namespace, a direct child of bubblewrap, which reaps it: bubblewrap's own
  // init would outlive its parent and be left to the host's init to reap. An app cannot start processes
  // (permission model), so no reaper is needed; as pid 1 it gets SIGTERM only if it handles it (else the
  // grace runs out and SIGKILL follows): stop apps through their channel first.
  args.push(
    '--as-pid-1',
    '--die-with-parent',
    '--new-session',
    '--uid',
    String(plan.uid),
    '--gid',
    String(plan.gid),
    '--hostname',
    'sightline-app',
  );
  args.push(...plan.roots, '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  if (plan.allowNetwork) for (const f of NETWORK_FILES) args.push('--ro-bind-try', f, f);
  for (const b of plan.binds) args.push(b.mode === 'ro' ? '--ro-bind' : '--bind', b.path, b.path);
  args.push('--remount-ro', '/', '--chdir', plan.cwd, '--', ...plan.command);
  return args;
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FILL_MJS, HEAP_MJS, HOG_MJS, LAYERS_MJS } from '../../test/fixtures/sandbox/programs.js';
import { appsApi } from '@sightline/protocol';
import { AppEndpoint, appLaunchSpec, type AppHost } from '@sightline/sdk/agent';
import { bundleApp } from '@sightline/sdk/build';
import { parseMountinfo } from './probe.js';
import { Sandbox, probeIsolation, type AppCommand, type NodeSpec, type SupervisorEvent } from './index.js';

/**
 * The sandbox on this machine, with real processes, real bubblewrap, real
 * cgroups and real loop mounts. Each layer is also tested on its own (the
 * OS layers without the permission model, the uid without namespaces), so a
 * layer that silently stopped working fails a test even while another one
 * still holds.
 */

const here = dirname(fileURLToPath(import.meta.url));
const isRoot = process.getuid?.() === 0;
const hasBwrap = existsSync('/usr/bin/bwrap');
const rootReason = isRoot ? false : 'needs root (a uid of its own per app is root-only)';
const OTHER_UID = 61999;

const root = mkdtempSync(join(tmpdir(), 'sl-sandbox-'));
const dataDir = join(root, 'data');
const keyFile = join(dataDir, 'keys', 'device.key');
const pkgA = join(root, 'apps', 'a', 'pkg');
const pkgB = join(root, 'apps', 'b', 'pkg');
const storageB = join(root, 'apps', 'b', 'storage');
const stateDir = join(root, 'state');
let server: Server;
let serverPort = 0;
let sandbox: Sandbox;

function writeTargets(storage: string): void {
  const targets = {
    reads: {
      ownPackage: join(pkgA, 'layers.mjs'),
      otherPackage: join(pkgB, 'app.mjs'),
      otherStorage: join(storageB, 'secret.txt'),
      agentKey: keyFile,
      shadow: '/etc/shadow',
    },
    writes: {
      storage: join(storage, 'w.txt'),
      ownPackage: join(pkgA, 'w.txt'),
      agentData: join(dataDir, 'w.txt'),
      rootDir: '/sl-sandbox-w.txt',
    },
    ports: { postgres: 5432, local: serverPort },
  };
  writeFileSync(join(pkgA, 'targets.json'), JSON.stringify(targets));
}

before(async () => {
  chmodSync(root, 0o755);
  mkdirSync(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  writeFileSync(keyFile, 'FAKE-DEVICE-PRIVATE-KEY', { mode: 0o600 });
  mkdirSync(pkgA, { recursive: true });
  for (const [f, text] of Object.entries({ 'layers.mjs': LAYERS_MJS, 'hog.mjs': HOG_MJS, 'fill.mjs': FILL_MJS, 'heap.mjs': HEAP_MJS }))
    writeFileSync(join(pkgA, f), text);
  mkdirSync(pkgB, { recursive: true });
  writeFileSync(join(pkgB, 'app.mjs'), '// the other app');
  mkdirSync(storageB, { recursive: true });
  writeFileSync(join(storageB, 'secret.txt'), 'the other app data');
  if (isRoot) {
    // As the sandbox leaves another app's folders: its package lent to its group, its storage its own.
    for (const p of [pkgB, join(pkgB, 'app.mjs')]) chownSync(p, 0, OTHER_UID);
    chmodSync(pkgB, 0o750);
    chmodSync(join(pkgB, 'app.mjs'), 0o640);
    for (const p of [storageB, join(storageB, 'secret.txt')]) chownSync(p, OTHER_UID, OTHER_UID);
    chmodSync(storageB, 0o700);
  }
  server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  serverPort = (server.address() as { port: number }).port;
  sandbox = await Sandbox.create({ stateDir, cgroupParent: 'sightline-test' });
});

after(() => {
  server.close();
  // The test's parent cgroups (the nodes' own are gone already, or rmdir fails and shows it).
  for (const dir of Object.values(sandbox.capabilities.cgroupPaths)) {
    try {
      rmdirSync(dir);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT', `${dir} should be empty now`);
    }
  }
  rmSync('/sl-sandbox-w.txt', { force: true });
  rmSync(root, { recursive: true, force: true });
});

let seq = 0;
/** A node of app "a" with its own storage folder (and so its own quota image and cgroup). */
function spec(launch: (storage: string) => AppCommand, over: Partial<NodeSpec> = {}): NodeSpec {
  const node = `n${++seq}`;
  const storageDir = join(root, 'apps', 'a', `storage-${node}`);
  writeTargets(storageDir);
  return {
    instance: 'i-test',
    node,
    launch: launch(storageDir),
    appDir: pkgA,
    storageDir,
    allowNetwork: false,
    limits: { memoryMiB: 64, cpuCores: 0.5, diskMiB: 1 },
    ...over,
  };
}

/** Under the permission model, exactly as the agent launches apps. */
const withPermissionModel =
  (entry: string, ...extra: string[]) =>
  (storageDir: string): AppCommand => {
    const s = appLaunchSpec({ entry: join(pkgA, entry), appDir: pkgA, storageDir, memoryMiB: 64, instance: 'i-test' });
    return { ...s, args: [...s.args, ...extra] };
  };

/** Plain node without the permission model: only the OS layers are left to hold. */
const plainNode =
  (entry: string, ...extra: string[]) =>
  (storageDir: string): AppCommand => ({
    command: process.execPath,
    args: [join(pkgA, entry), ...extra],
    options: { cwd: pkgA, env: { SIGHTLINE_STORAGE_DIR: storageDir }, stdio: ['ignore', 'pipe', 'pipe'] },
  });

function firstLine(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = '';
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      text += c.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(text.slice(0, nl)) as Record<string, unknown>);
    });
    child.once('exit', (code) => setTimeout(() => reject(new Error(`exited ${code} before a line: ${text} ${err}`)), 100));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function mounted(path: string): boolean {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).some((m) => m.point === path);
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the isolation report says what this machine has', async () => {
  const report = await probeIsolation({ cgroupParent: 'sightline-test' });
  appsApi.isolationReport.parse(report);
  assert.equal(report.permissionModel.present, true);
  // Installed bubblewrap may still be refused user namespaces by the kernel; then the report must say so.
  if (!hasBwrap || !report.namespaces.present)
    assert.match(report.namespaces.detail, hasBwrap ? /cannot create namespaces/ : /not installed/);
  if (isRoot) assert.equal(report.namespaces.present, hasBwrap, report.namespaces.detail);
  const v2 =
    existsSync('/sys/fs/cgroup/cgroup.controllers') && /\bmemory\b/.test(readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8'));
  const v1 = existsSync('/sys/fs/cgroup/memory/cgroup.procs') && existsSync('/sys/fs/cgroup/cpu/cgroup.procs');
  assert.equal(report.cgroups.version, !isRoot ? report.cgroups.version : v2 ? 'v2' : v1 ? 'v1' : 'none', report.cgroups.detail);
  assert.equal(report.diskQuota.present, true);
  if (isRoot && existsSync('/usr/sbin/mkfs.ext4')) assert.match(report.diskQuota.detail, /loop-mounted/);

  // Layers switched off are reported absent, with the fallback named.
  const off = await probeIsolation({ bwrapPath: null, cgroupVersion: 'none', allowLoopImages: false });
  assert.equal(off.namespaces.present, false);
  assert.equal(off.cgroups.version, 'none');
  assert.match(off.cgroups.detail, /nice/);
  assert.match(off.diskQuota.detail, /measured/);
  // Cached: the same object again.
  assert.equal(await probeIsolation({ cgroupParent: 'sightline-test' }), report);
});

test('all layers: an app reads only its package, writes only its storage, has no network', async (t) => {
  if (sandbox.capabilities.bwrap === null) return t.skip(`no namespaces here: ${sandbox.report.namespaces.detail}`);
  const proc = await sandbox.launch(spec(withPermissionModel('layers.mjs')));
  const out = await firstLine(proc.child);
  assert.equal(await proc.exited.then((r) => r.kind), 'code');
  const { cgroup, diskQuota } = sandbox.capabilities;
  assert.deepEqual(proc.layers, {
    namespaces: true,
    networkIsolated: true,
    uid: out.uid,
    gid: out.gid,
    cgroup,
    niced: cgroup === 'none',
    diskQuota,
  });
  if (isRoot) assert.ok((out.uid as number) >= 61000 && (out.uid as number) < 62000, `own uid, got ${String(out.uid)}`);
  else assert.equal(out.uid, process.getuid?.());
  assert.equal(out['read:ownPackage'], 'ok');
  for (const k of ['otherPackage', 'otherStorage', 'agentKey', 'shadow']) assert.equal(out[`read:${k}`], 'ERR_ACCESS_DENIED', k);
  assert.equal(out['write:storage'], 'ok');
  for (const k of ['ownPackage', 'agentData', 'rootDir']) assert.equal(out[`write:${k}`], 'ERR_ACCESS_DENIED', k);
  assert.equal(out['connect:postgres'], 'ECONNREFUSED');
  assert.equal(out['connect:local'], 'ECONNREFUSED');
});

test('namespaces and uid alone (no permission model): nothing of the host is even visible', async (t) => {
  if (sandbox.capabilities.bwrap === null) return t.skip(`no namespaces here: ${sandbox.report.namespaces.detail}`);
  const proc = await sandbox.launch(spec(plainNode('layers.mjs')));
  const out = await firstLine(proc.child);
  await proc.exited;
  assert.equal(out.hostname, 'sightline-app');
  assert.ok((out.procs as number) <= 3, `own pid namespace, saw ${String(out.procs)} processes`);
  assert.equal(out['read:ownPackage'], 'ok');
  for (const k of ['otherPackage', 'otherStorage', 'agentKey', 'shadow']) assert.equal(out[`read:${k}`], 'ENOENT', k);
  assert.equal(out['write:storage'], 'ok');
  assert.equal(out['write:ownPackage'], 'EROFS');
  assert.equal(out['write:rootDir'], 'EROFS');
  assert.equal(out['write:agentData'], 'ENOENT');
  assert.equal(out['connect:postgres'], 'ECONNREFUSED');
  assert.equal(out['connect:local'], 'ECONNREFUSED');
  assert.equal(readFileSync(keyFile, 'utf8'), 'FAKE-DEVICE-PRIVATE-KEY');

  // Asked for: the host network is there.
  const net = await sandbox.launch(spec(plainNode('layers.mjs'), { allowNetwork: true }));
  const netOut = await firstLine(net.child);
  await net.exited;
  assert.equal(net.layers.networkIsolated, false);
  assert.equal(netOut['connect:local'], 'ok');
});

test('uid alone (no namespaces, no permission model): file permissions still refuse', { skip: rootReason }, async () => {
  const bare = await Sandbox.create({ stateDir: join(root, 'state-bare'), bwrapPath: null, cgroupParent: 'sightline-test' });
  assert.equal(bare.report.namespaces.present, false);
  const proc = await bare.launch(spec(plainNode('layers.mjs')));
  const out = await firstLine(proc.child);
  await proc.exited;
  assert.equal(proc.layers.namespaces, false);
  assert.notEqual(out.uid, 0);
  assert.equal(out['read:ownPackage'], 'ok');
  for (const k of ['otherPackage', 'otherStorage', 'agentKey', 'shadow']) assert.equal(out[`read:${k}`], 'EACCES', k);
  assert.equal(out['write:storage'], 'ok');
  for (const k of ['ownPackage', 'agentData', 'rootDir']) assert.equal(out[`write:${k}`], 'EACCES', k);
});

test('quotas: the cgroup has the limits, the app runs inside it, stop leaves nothing', async (t) => {
  if (sandbox.capabilities.cgroup === 'none') return t.skip(`no writable cgroups here: ${sandbox.report.cgroups.detail}`);
  const s = spec(plainNode('fill.mjs', '0'), { limits: { memoryMiB: 96, cpuCores: 0.5, diskMiB: 1 } });
  const proc = await sandbox.launch(s);
  await firstLine(proc.child);
  const limits = await proc.cgroup!.readLimits();
  if (proc.cgroup!.version === 'v1') {
    assert.equal(limits['cpu.cfs_quota_us'], '50000');
    assert.equal(limits['cpu.cfs_period_us'], '100000');
    assert.equal(limits['memory.limit_in_bytes'], String(96 * 1024 * 1024));
    if (limits['memory.memsw.limit_in_bytes'] !== undefined) assert.equal(limits['memory.memsw.limit_in_bytes'], String(96 * 1024 * 1024));
  } else {
    assert.equal(limits['cpu.max'], '50000 100000');
    assert.equal(limits['memory.max'], String(96 * 1024 * 1024));
  }
  const pids = await proc.pids();
  assert.ok(pids.length >= 2, `gate/bwrap and the app are all in the cgroup: ${pids.join(',')}`);
  assert.ok(pids.includes(proc.pid));
  assert.ok(mounted(s.storageDir));
  // fill.mjs ignores SIGTERM: stop must fall back to SIGKILL and leave no process, cgroup or mount.
  assert.deepEqual(await proc.stop(200), { kind: 'stopped' });
  for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} is gone`);
  for (const dir of Object.values(proc.cgroup!.dirs)) assert.equal(existsSync(dir), false, `${dir} removed`);
  assert.equal(mounted(s.storageDir), false);
});

test('memory quota: an app past it is killed, reported as memory quota, and restarted with backoff', async (t) => {
  if (sandbox.capabilities.cgroup === 'none') return t.skip(`no writable cgroups here: ${sandbox.report.cgroups.detail}`);
  const events: SupervisorEvent[] = [];
  const sup = sandbox.supervise(spec(withPermissionModel('hog.mjs')), {
    restart: { baseMs: 200, maxMs: 400 },
    graceMs: 500,
    onEvent: (e) => events.push(e),
  });
  sup.start();
  await waitFor('a restart after the OOM kill', () => events.filter((e) => e.type === 'started').length >= 2);
  const exit = events.find((e) => e.type === 'exited');
  assert.ok(exit?.type === 'exited');
  assert.deepEqual(exit.reason, { kind: 'memory quota' });
  assert.ok(exit.restartInMs !== null && exit.restartInMs >= 100 && exit.restartInMs <= 200, `equal jitter on 200 ms: ${exit.restartInMs}`);
  assert.equal(sup.restarts, 1);
  assert.equal(sup.status().lastExit, 'memory quota');
  const running = events.filter((e) => e.type === 'started').at(-1);
  const pid = running?.type === 'started' ? running.child.pid : undefined;
  await sup.stop();
  assert.equal(sup.state, 'stopped');
  assert.equal(events.at(-1)?.type, 'stopped');
  assert.equal(pid !== undefined && alive(pid), false);
});

test('the V8 heap limit (the memory quota inside the process) is reported as memory quota too', async () => {
  const proc = await sandbox.launch(spec(withPermissionModel('heap.mjs'), { limits: { memoryMiB: 96, cpuCores: 1, diskMiB: 1 } }));
  assert.deepEqual(await proc.exited, { kind: 'memory quota' });
});

test('disk quota (loop image): writes past the quota fail, the data outlives a restart', async (t) => {
  if (sandbox.capabilities.diskQuota !== 'loop-image') return t.skip(`no loop mounts here: ${sandbox.report.diskQuota.detail}`);
  const s = spec(withPermissionModel('fill.mjs', '8'), { limits: { memoryMiB: 64, cpuCores: 1, diskMiB: 2 } });
  const proc = await sandbox.launch(s);
  const out = await firstLine(proc.child);
  assert.equal(out.error, 'ENOSPC');
  assert.ok((out.bytes as number) > 0 && (out.bytes as number) <= 2 * 1024 * 1024, `wrote ${String(out.bytes)}`);
  await proc.stop(100);
  assert.equal(existsSync(join(s.storageDir, 'fill.bin')), false, 'unmounted: the data is inside the image');
  const again = await sandbox.launch({ ...s, launch: withPermissionModel('fill.mjs', '0')(s.storageDir) });
  await firstLine(again.child);
  assert.equal(readFileSync(join(s.storageDir, 'fill.bin')).length, out.bytes);
  await again.stop(100);
  await sandbox.discardStorage(s);
  assert.equal(existsSync(s.storageDir), false);
});

test('disk quota (measured, where no loop mounts): an app over it is stopped as disk quota', async () => {
  const measured = await Sandbox.create({
    stateDir: join(root, 'state-measure'),
    allowLoopImages: false,
    diskCheckMs: 50,
    cgroupParent: 'sightline-test',
  });
  assert.equal(measured.capabilities.diskQuota, 'measure');
  const s = spec(withPermissionModel('fill.mjs', '3'));
  const proc = await measured.launch(s);
  assert.deepEqual(await proc.exited, { kind: 'disk quota' });
  assert.ok(readFileSync(join(s.storageDir, 'fill.bin')).length > 1024 * 1024);
});

test('no cgroups: scheduling priority instead, and the report says so', async () => {
  const niced = await Sandbox.create({ stateDir: join(root, 'state-nice'), cgroupVersion: 'none', cgroupParent: 'sightline-test' });
  assert.equal(niced.report.cgroups.version, 'none');
  const proc = await niced.launch(spec(plainNode('fill.mjs', '0')));
  await firstLine(proc.child);
  assert.equal(proc.layers.niced, true);
  assert.equal(proc.cgroup, null);
  const pids = await proc.pids();
  const app = pids.at(-1)!;
  assert.equal(getPriority(app), 10);
  await proc.stop(100);
  for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} is gone`);
});

test('a bad spec is refused before anything is made', async () => {
  const s = spec(plainNode('layers.mjs'), { node: '../escape' });
  await assert.rejects(sandbox.launch(s), { code: 'SANDBOX_SPEC_INVALID' });
  assert.throws(() => sandbox.supervise({ ...s, node: 'ok', storageDir: 'relative' }), { code: 'SANDBOX_SPEC_INVALID' });
  assert.throws(() => sandbox.supervise({ ...s, node: 'ok', limits: { memoryMiB: 8, cpuCores: 1, diskMiB: 1 } }), {
    code: 'SANDBOX_SPEC_INVALID',
  });
  assert.equal(existsSync(s.storageDir), false);
});

test('an SDK app runs behind every layer and still talks to the agent over its IPC channel', async () => {
  const pkg = join(root, 'apps', 'c', 'pkg');
  const storageDir = join(root, 'apps', 'c', 'storage');
  const bundle = await bundleApp(join(here, '../../../sdk/test/fixtures/probe-app'), pkg);
  writeFileSync(join(pkg, 'descriptor.json'), JSON.stringify(bundle.descriptor));
  const logs: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
  const host: AppHost = {
    init: () => ({ instance: 'i-sdk', parameters: {}, models: {} }),
    getFrame: (_input, timeoutMs, signal) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), timeoutMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve(null)), { once: true });
      }),
    runModel: () => Promise.reject(new Error('no models here')),
    putFrame: () => undefined,
    storageGet: () => Promise.resolve(null),
    storageSet: () => Promise.resolve(),
    storageDelete: () => Promise.resolve(),
    log: (_level, message, fields) => logs.push({ message, fields }),
    metric: () => undefined,
  };
  let endpoint: AppEndpoint | undefined;
  const events: SupervisorEvent[] = [];
  const sup = sandbox.supervise(
    {
      instance: 'i-sdk',
      node: 'probe',
      launch: appLaunchSpec({ entry: bundle.outFile, appDir: pkg, storageDir, memoryMiB: 128, instance: 'i-sdk' }),
      appDir: pkg,
      storageDir,
      allowNetwork: false,
      limits: { memoryMiB: 128, cpuCores: 0.5, diskMiB: 1 },
    },
    {
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'started') endpoint = new AppEndpoint(e.child, host);
      },
    },
  );
  sup.start();
  await waitFor('the probe report over IPC', () => logs.some((l) => l.message === 'probes'));
  const probes = logs.find((l) => l.message === 'probes')!.fields!;
  assert.equal(probes.readHostname, 'ERR_ACCESS_DENIED');
  assert.equal(probes.readOwnPackage, 'ok');
  assert.equal(probes.writeStorage, 'ok');
  assert.equal(probes.writePackage, 'ERR_ACCESS_DENIED');
  assert.equal(probes.childProcess, 'ERR_ACCESS_DENIED');
  assert.equal(probes.worker, 'ERR_ACCESS_DENIED');
  assert.equal(sup.state, 'running');
  // The graceful way: the app returns from run() when asked over its channel.
  endpoint!.stop();
  await sup.stop(10_000);
  assert.deepEqual(
    events.map((e) => e.type),
    ['started', 'stopped'],
  );
  await sandbox.discardStorage({ instance: 'i-sdk', node: 'probe', storageDir });
});

test('app folders the app uid cannot reach are refused with the folder to fix', { skip: rootReason }, async () => {
  const hidden = join(root, 'hidden');
  mkdirSync(join(hidden, 'pkg'), { recursive: true, mode: 0o700 });
  chmodSync(hidden, 0o700);
  const s = { ...spec(plainNode('layers.mjs')), appDir: join(hidden, 'pkg') };
  await assert.rejects(sandbox.launch(s), (e: { code?: string; details?: { folder?: string } }) => {
    assert.equal(e.code, 'SANDBOX_SPEC_INVALID');
    assert.equal(e.details?.folder, hidden);
    return true;
  });
});

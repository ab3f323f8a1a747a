import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bwrapArgs, type BwrapPlan } from './bwrap-args.js';

const plan: BwrapPlan = {
  roots: ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib'],
  uid: 61000,
  gid: 61000,
  allowNetwork: false,
  binds: [
    { path: '/var/lib/sightline/apps/i/pkg', mode: 'ro' },
    { path: '/var/lib/sightline/apps/i/storage', mode: 'rw' },
  ],
  cwd: '/var/lib/sightline/apps/i/pkg',
  command: ['/usr/bin/node', '--experimental-permission', 'app.mjs'],
};

test('every namespace is new; the network one unless asked for; the command comes last', () => {
  const args = bwrapArgs(plan);
  for (const ns of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net']) assert.ok(args.includes(ns), ns);
  for (const f of ['--die-with-parent', '--new-session', '--as-pid-1']) assert.ok(args.includes(f), f);
  assert.deepEqual(args.slice(args.indexOf('--uid'), args.indexOf('--uid') + 4), ['--uid', '61000', '--gid', '61000']);
  assert.deepEqual(args.slice(-4), ['--', '/usr/bin/node', '--experimental-permission', 'app.mjs']);
  // The package read-only, the storage writable, the root re-mounted read-only after them.
  const pkg = args.indexOf('/var/lib/sightline/apps/i/pkg');
  assert.equal(args[pkg - 1], '--ro-bind');
  assert.equal(args[args.indexOf('/var/lib/sightline/apps/i/storage') - 1], '--bind');
  assert.ok(args.indexOf('--remount-ro') > pkg);
  // Nothing of /etc without network access; the optional flag only when this bubblewrap has it.
  assert.ok(!args.some((a) => a.startsWith('/etc')));
  assert.ok(!args.includes('--disable-userns'));
  assert.ok(bwrapArgs({ ...plan, features: new Set(['--disable-userns']) }).includes('--disable-userns'));
});

test('outbound network: the host network namespace and name resolution files', () => {
  const args = bwrapArgs({ ...plan, allowNetwork: true });
  assert.ok(!args.includes('--unshare-net'));
  assert.equal(args[args.indexOf('/etc/resolv.conf') - 1], '--ro-bind-try');
});

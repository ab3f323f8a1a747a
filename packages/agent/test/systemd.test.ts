import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../src/cli/program.js';

const UNIT = readFileSync(new URL('../systemd/sightline-agent.service', import.meta.url), 'utf8');
const settings = (key: string): string[] => [...UNIT.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1] ?? '');

test('the unit is hardened and confined to the data folder', () => {
  for (const [key, value] of [
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ReadWritePaths', '/var/lib/sightline-agent'],
    ['PrivateTmp', 'yes'],
    ['ProtectHome', 'yes'],
    ['CapabilityBoundingSet', ''],
    ['UMask', '0077'],
    ['User', 'sightline-agent'],
    ['DevicePolicy', 'closed'],
  ] as const) {
    assert.deepEqual(settings(key), [value], key);
  }
  assert.match(settings('ExecStart')[0] ?? '', /sightline-agent start --data-dir \/var\/lib\/sightline-agent$/);
});

test('systemd does not restart a refused device in a loop (RestartPreventExitStatus has the CLI exit code)', () => {
  const codes = (settings('RestartPreventExitStatus')[0] ?? '').split(/\s+/).map(Number);
  assert.ok(codes.includes(EXIT.REFUSED));
  assert.ok(codes.includes(EXIT.STATE));
  assert.deepEqual(settings('Restart'), ['on-failure']);
});

const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
test(
  'systemd-analyze verify finds nothing wrong but the binary it cannot see here',
  { skip: analyze ? false : 'systemd-analyze is not installed' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-unit-'));
    const unit = join(dir, 'sightline-agent.service');
    writeFileSync(unit, UNIT.replace(/^ExecStart=\S+/m, 'ExecStart=/bin/true'));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    assert.equal(r.stderr.trim(), '', r.stderr);
    const sec = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=30', unit], { encoding: 'utf8' });
    assert.equal(sec.status, 0, sec.stdout.split('\n').slice(-3).join('\n'));
  },
);

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockingFolder } from './ownership.js';

// A uid and gid that own nothing here: the "others" bits decide, as for an app's own user.
const STRANGER = 61999;

test('blockingFolder: the nearest folder above a path that a stranger cannot pass through, with its mode', async () => {
  const top = mkdtempSync(join(tmpdir(), 'sl-own-'));
  try {
    chmodSync(top, 0o755);
    const closed = join(top, 'home');
    const data = join(closed, 'clone', '.sightline-demo-appliance');
    mkdirSync(data, { recursive: true });
    chmodSync(closed, 0o700);
    assert.deepEqual(await blockingFolder(join(data, 'apps', 'x'), STRANGER, STRANGER), { folder: closed, mode: 0o700 });
    // Pass-through only (0711) is enough; so is a group the stranger is in.
    chmodSync(closed, 0o711);
    assert.equal(await blockingFolder(join(data, 'apps', 'x'), STRANGER, STRANGER), undefined);
    chmodSync(closed, 0o750);
    assert.equal(await blockingFolder(join(data, 'apps', 'x'), STRANGER, process.getgid?.() ?? 0), undefined);
    // Folders not made yet are skipped; the check goes on above them.
    chmodSync(closed, 0o700);
    assert.deepEqual(await blockingFolder(join(data, 'not', 'yet', 'there'), STRANGER, STRANGER), { folder: closed, mode: 0o700 });
    // A folder already passed (the `checked` set) is not looked at again.
    assert.equal(await blockingFolder(data, STRANGER, STRANGER, new Set([join(closed, 'clone')])), undefined);
  } finally {
    chmodSync(join(top, 'home'), 0o755);
    rmSync(top, { recursive: true, force: true });
  }
});

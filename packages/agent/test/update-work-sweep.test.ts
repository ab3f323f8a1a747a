import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepStaleWork } from '../src/update/updater.js';

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

test('stale update work folders are removed: those of dead processes and old unnamed ones; live ones and slots stay', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sightline-slots-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  const dead = await deadPid();
  const folders = {
    dead: `.work-${dead}-Ab12Cd`,
    mine: `.work-${process.pid}-Ef34Gh`,
    live: `.work-${sleeper.pid}-Ij56Kl`,
    oldUnnamed: '.work-Mn78Op',
    newUnnamed: '.work-Qr90St',
    slot: 'a',
  };
  for (const name of Object.values(folders)) {
    mkdirSync(join(root, name, 'files'), { recursive: true });
    writeFileSync(join(root, name, 'bundle.tar'), Buffer.alloc(4096, 1));
  }
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000);
  utimesSync(join(root, folders.oldUnnamed), twoDaysAgo, twoDaysAgo);
  utimesSync(join(root, folders.slot), twoDaysAgo, twoDaysAgo);

  const removed = await sweepStaleWork(root);
  assert.deepEqual(removed.sort(), [folders.dead, folders.oldUnnamed].sort());
  assert.deepEqual(readdirSync(root).sort(), [folders.mine, folders.live, folders.newUnnamed, folders.slot].sort());
  // Once the live process is gone its folder goes at the next sweep.
  sleeper.kill('SIGKILL');
  await once(sleeper, 'exit');
  assert.deepEqual(await sweepStaleWork(root), [folders.live]);
  assert.deepEqual(await sweepStaleWork(join(root, 'missing')), []);
});

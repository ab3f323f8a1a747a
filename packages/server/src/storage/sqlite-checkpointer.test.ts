import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openDatabase } from './database.js';
import { startCheckpointer } from './sqlite-checkpointer.js';

/** Pages in the WAL file (4 KiB pages; frame headers ignored). */
function walPages(db: BetterSqlite3.Database): number {
  return Math.floor(statSync(`${db.name}-wal`).size / 4096);
}

test('WAL checkpoints run in the worker, not on the commit that fills the WAL; the database stays whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-ckpt-'));
  try {
    const opened = await openDatabase({ url: join(dir, 'sightline.db') });
    const ckpt = opened.checkpointer;
    assert.ok(ckpt !== undefined);
    await ckpt.next();
    const before = ckpt.stats.framesCheckpointed;
    for (let i = 0; i <= 3000; i++)
      await opened.db
        .insertInto('settings')
        .values({ key: `k${i}`, value: 'y'.repeat(1000) })
        .execute();
    await ckpt.next();
    await ckpt.next();
    assert.ok(ckpt.stats.runs >= 3, `runs ${ckpt.stats.runs}`);
    assert.ok(ckpt.stats.framesCheckpointed > before, `frames copied back: ${before} then ${ckpt.stats.framesCheckpointed}`);
    assert.equal(ckpt.stats.fellBack, false);
    const n = await opened.db
      .selectFrom('settings')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(n.n), 3001);
    await opened.close();
    // Reopened from the file alone (WAL checkpointed and removed on close): every row is there.
    const again = new BetterSqlite3(join(dir, 'sightline.db'), { readonly: true });
    assert.equal((again.prepare('select count(*) as n from settings').get() as { n: number }).n, 3001);
    assert.equal((again.pragma('integrity_check') as { integrity_check: string }[])[0]?.integrity_check, 'ok');
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint worker that cannot run gives the main connection its automatic checkpoints back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-ckpt-'));
  const db = new BetterSqlite3(join(dir, 'x.db'));
  try {
    db.pragma('journal_mode = WAL');
    const ckpt = startCheckpointer(db, join(dir, 'x.db'), { driverModule: join(dir, 'no-such-driver.js'), fallbackPages: 1234 });
    await ckpt.next();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ckpt.stats.fellBack, true);
    assert.match(ckpt.stats.lastError ?? '', /no-such-driver|Cannot find module|exited/);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1234);
    await ckpt.stop();
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the worker running, the main connection checkpoints nothing itself', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-ckpt-'));
  const db = new BetterSqlite3(join(dir, 'y.db'));
  try {
    db.pragma('journal_mode = WAL');
    const ckpt = startCheckpointer(db, join(dir, 'y.db'), { intervalMs: 60_000 });
    await ckpt.next(); // the first run, at start
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    db.exec('create table t (v blob)');
    const insert = db.prepare('insert into t values (?)');
    for (let i = 0; i < 2000; i++) insert.run(Buffer.alloc(4000));
    // ~2,000 pages in the WAL and still there: the default would have checkpointed at 1,000.
    assert.ok(walPages(db) > 1500, `WAL pages ${walPages(db)}`);
    await ckpt.stop();
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

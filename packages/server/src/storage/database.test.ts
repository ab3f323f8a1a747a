import { test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { openDatabase, StorageError, withStatementCache } from './database.js';
import { testDatabases } from './test-databases.js';

for (const target of await testDatabases()) {
  test(`[${target.name}] migrations create every table and are idempotent`, async () => {
    const opened = await target.open();
    try {
      const tables = (await opened.db.introspection.getTables()).map((t) => t.name).filter((n) => !n.startsWith('kysely_'));
      for (const expected of ['projects', 'users', 'groups', 'policies', 'sessions', 'api_keys', 'role_grants']) {
        assert.ok(tables.includes(expected), `${expected} missing in ${tables.join(',')}`);
      }
      await opened.db.insertInto('settings').values({ key: 'k', value: 'v' }).execute();
      const row = await opened.db.selectFrom('settings').selectAll().where('key', '=', 'k').executeTakeFirstOrThrow();
      assert.equal(row.value, 'v');
    } finally {
      await opened.cleanup();
    }
  });
}

test('an empty storage URL is refused with a code', async () => {
  await assert.rejects(openDatabase({ url: 'sqlite:' }), (err: unknown) => err instanceof StorageError && err.code === 'STORAGE_URL_INVALID');
});

test('the SQLite statement cache reuses statements, evicts the least recently used, and never shares a busy one', () => {
  const raw = new BetterSqlite3(':memory:');
  const db = withStatementCache(raw, 2);
  db.prepare('create table t (x integer)').run([]);
  const insert = db.prepare('insert into t values (?)');
  for (let i = 0; i < 3; i++) insert.run([i]);
  assert.equal(db.prepare('insert into t values (?)'), insert);
  const select = db.prepare('select x from t order by x');
  const iterating = select.iterate([]);
  const first = iterating.next();
  assert.deepEqual(first.value, { x: 0 });
  // A streamed read holds its statement: the same SQL meanwhile gets another one that works.
  const other = db.prepare('select x from t order by x');
  assert.notEqual(other, select);
  assert.equal(other.all([]).length, 3);
  iterating.return?.();
  db.prepare('select 1 as one');
  db.prepare('select 2 as two');
  assert.notEqual(db.prepare('insert into t values (?)'), insert, 'evicted after two newer statements');
  db.close();
  assert.equal(raw.open, false);
});

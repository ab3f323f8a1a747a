import { test } from 'node:test';
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { openDatabase, StorageError, withStatementCache } from './database.js';
import pg from 'pg';
import { pgTestUrl, postgresReachable, postgresTestDatabase, testDatabases } from './test-databases.js';

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
  await assert.rejects(
    openDatabase({ url: 'sqlite:' }),
    (err: unknown) => err instanceof StorageError && err.code === 'STORAGE_URL_INVALID',
  );
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

if (await postgresReachable()) {
  test('[postgres] migrating one schema is not upset by other schemas created and dropped meanwhile', async () => {
    // Kysely's own introspector resolved every schema's tables by name: a schema dropped by
    // another tenant (or a parallel test) in the middle failed our migration.
    const churn = new pg.Client({ connectionString: pgTestUrl });
    await churn.connect();
    let stop = false;
    const churning = (async () => {
      for (let i = 0; !stop; i++) {
        const name = `churn_${process.pid}_${i}`;
        await churn.query(`create schema ${name}; create table ${name}.t (id serial primary key, v text)`);
        await churn.query(`drop schema ${name} cascade`);
      }
    })();
    try {
      for (let round = 0; round < 6; round++) {
        const opened = await Promise.all([1, 2, 3].map(() => postgresTestDatabase.open()));
        for (const o of opened) {
          const tables = (await o.db.introspection.getTables()).map((t) => t.name);
          assert.ok(tables.includes('settings'), `settings missing in ${tables.join(',')}`);
          assert.ok(!tables.some((t) => t.startsWith('kysely_')), 'Kysely tables are internal');
        }
        await Promise.all(opened.map((o) => o.cleanup()));
      }
    } finally {
      stop = true;
      await churning;
      await churn.end();
    }
  });
}

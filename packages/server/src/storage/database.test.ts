import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, StorageError } from './database.js';
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

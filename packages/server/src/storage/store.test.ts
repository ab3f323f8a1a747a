import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from './store.js';
import { testDatabases } from './test-databases.js';

for (const target of await testDatabases()) {
  test(`[${target.name}] afterCommit runs after the commit, never on rollback, at once outside a transaction`, async () => {
    const opened = await target.open();
    try {
      const store = new Store(opened.db, opened.engine);
      const seen: string[] = [];
      // What a woken reader sees from outside the transaction when the hook runs.
      const outside = async (): Promise<string | undefined> =>
        (await opened.db.selectFrom('settings').select('value').where('key', '=', 'k').executeTakeFirst())?.value;
      let late: Promise<void> = Promise.resolve();
      await store.transaction(async () => {
        await store.db.insertInto('settings').values({ key: 'k', value: 'committed' }).execute();
        store.afterCommit(() => {
          seen.push('hook');
          late = outside().then((v) => void seen.push(`reader saw ${v ?? 'nothing'}`));
        });
        seen.push('body done');
      });
      await late;
      assert.deepEqual(seen, ['body done', 'hook', 'reader saw committed']);

      let ran = false;
      await assert.rejects(
        store.transaction(() => {
          store.afterCommit(() => (ran = true));
          return Promise.reject(new Error('roll back'));
        }),
        /roll back/,
      );
      assert.equal(ran, false);

      let now = false;
      store.afterCommit(() => (now = true));
      assert.equal(now, true);
    } finally {
      await opened.cleanup();
    }
  });
}

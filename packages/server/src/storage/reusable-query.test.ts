import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReusableQuery } from './reusable-query.js';
import { Store } from './store.js';
import { testDatabases } from './test-databases.js';

for (const target of await testDatabases()) {
  test(`[${target.name}] a reusable query runs its compiled SQL with each call's parameters, constants kept`, async () => {
    const opened = await target.open();
    try {
      const store = new Store(opened.db, opened.engine);
      let builds = 0;
      const put = new ReusableQuery((db, $) => {
        builds++;
        return db.insertInto('settings').values({ key: $(1), value: $(0) });
      });
      const get = new ReusableQuery((db, $) => db.selectFrom('settings').select('value').where('key', '=', $(0)).where('key', '<>', 'constant'));
      await put.execute(store.db, ['one', 'k1']);
      await store.transaction(() => put.execute(store.db, ['two', 'k2']));
      await assert.rejects(
        store.transaction(async () => {
          await put.execute(store.db, ['three', 'k3']);
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.equal(builds, 1, 'built and compiled once');
      assert.deepEqual((await get.execute(store.db, ['k1'])).rows, [{ value: 'one' }]);
      assert.deepEqual((await get.execute(store.db, ['k2'])).rows, [{ value: 'two' }]);
      assert.deepEqual((await get.execute(store.db, ['k3'])).rows, [], 'the rolled-back insert is gone');
      const unused = new ReusableQuery((db, $) => db.selectFrom('settings').select('value').where('key', '=', $(0)));
      await assert.rejects(unused.execute(store.db, ['k1', 'never used']), /parameter 1 does not reach the SQL/);
    } finally {
      await opened.cleanup();
    }
  });
}

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeId } from '@sightline/core';
import { AuditRepository } from '../src/audit/audit.repository.js';
import { AuditService } from '../src/audit/audit.service.js';
import { FrozenClock } from '../src/clock.js';
import type { AuditRecord } from '../src/http/pipeline.js';
import { RootKey } from '../src/keys/root-key.js';
import { silentLogger } from '../src/logging/logger.js';
import { Store } from '../src/storage/store.js';
import { testDatabases } from '../src/storage/test-databases.js';

/** Counts the node reads appends make. */
class CountingRepository extends AuditRepository {
  reads = 0;
  override getNodes(ids: readonly NodeId[]): Promise<ReadonlyArray<Uint8Array | undefined>> {
    this.reads += ids.length;
    return super.getNodes(ids);
  }
}

const event = (i: number, clock: FrozenClock): AuditRecord => ({
  requestId: `req-${i}`,
  time: clock.now(),
  principal: { type: 'device', id: 'd1', name: 'dev-1' },
  action: 'device:Heartbeat',
  resource: 'srn:sightline:default:device/dev-1',
  sourceIp: '127.0.0.1',
  userAgent: 'test',
  outcome: 'allowed',
  parameters: { i },
});

for (const target of await testDatabases()) {
  describe(`[${target.name}] audit appends reuse the tree's right edge they committed`, () => {
    let opened: Awaited<ReturnType<typeof target.open>>;
    let dir: string;
    let store: Store;
    const clock = new FrozenClock(Date.now());
    const settings = { checkpointIntervalMs: 3_600_000, checkpointEveryEvents: 1_000_000 };
    before(async () => {
      opened = await target.open();
      store = new Store(opened.db, opened.engine);
      dir = mkdtempSync(join(tmpdir(), 'sightline-frontier-'));
    });
    after(async () => {
      await opened.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    test('sequential appends read no node; rollbacks and another replica\'s appends fall back to the store; the log verifies', async () => {
      const rootKey = RootKey.create(dir);
      const repo = new CountingRepository(store);
      const audit = new AuditService(store, repo, rootKey, clock, silentLogger, settings);
      await audit.start();
      // A second service on the same database: another replica appending in between.
      const otherRepo = new CountingRepository(store);
      const other = new AuditService(store, otherRepo, rootKey, clock, silentLogger, settings);
      await other.start();
      let n = 0;
      const append = (svc: AuditService): Promise<void> => store.transaction(() => svc.record(event(n++, clock)));

      await append(audit);
      repo.reads = 0;
      for (let i = 0; i < 40; i++) await append(audit);
      assert.equal(repo.reads, 0, 'each append found its siblings in the frontier it committed');

      // A rolled-back append leaves the frontier as it was (the head goes back too).
      await assert.rejects(
        store.transaction(async () => {
          await audit.record(event(n, clock));
          throw new Error('roll back');
        }),
        /roll back/,
      );
      await append(audit);
      assert.equal(repo.reads, 0);

      // Another replica appends: this one's frontier is for an older size, so it reads the store.
      for (let k = 0; k < 3; k++) await append(other);
      for (let i = 0; i < 9; i++) await append(audit);
      assert.ok(repo.reads > 0, 'after another replica appended, the store was read');
      for (let i = 0; i < 7; i++) await append(i % 2 === 0 ? audit : other);

      // The signed root comes from the stored nodes; verification recomputes it from the events.
      const cp = await audit.checkpoint();
      assert.equal(cp.size, n);
      const v = await audit.verifyLive();
      assert.equal(v.events, n);
      assert.equal(v.signedSize, n);
      await audit.stop();
      await other.stop();
    });
  });
}

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { parseWrappedKey } from '@sightline/core';
import { KmsError } from '../src/kms/kms-errors.js';
import type { KeyCaller } from '../src/kms/kms.service.js';
import { engines, startTestServer, type TestServer } from './harness.js';

const DAY = 86_400_000;

function encryptWith(key: KeyObject, text: string): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  return Buffer.concat([iv, c.update(text), c.final(), c.getAuthTag()]);
}
function decryptWith(key: KeyObject, blob: Buffer): string {
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
  d.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]).toString();
}
const rejectsWith = (code: string) => (e: unknown) => e instanceof KmsError && e.code === code;

for (const engine of await engines()) {
  describe(`[${engine}] key service`, () => {
    let s: TestServer;
    let admin: string;
    let caller: KeyCaller;
    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
      const who = await s.plane.services.auth.authenticate(admin, '127.0.0.1');
      // Key operations below are called directly, as the artifact and secret services call them.
      caller = { principal: who, requestId: 'kms-test', sourceIp: '127.0.0.1' };
    });
    after(() => s.close());

    test('service-managed keys exist without setup and wrap data keys bound to their context', async () => {
      const kms = s.plane.services.kms;
      const dk = await kms.generateDataKey({ project: 'default', purpose: 'secrets' }, 'secret:abc', caller);
      const blob = encryptWith(dk.key, 'camera password');
      const again = await kms.decryptDataKey(dk.wrapped, 'secret:abc', caller);
      assert.equal(decryptWith(again, blob), 'camera password');
      await assert.rejects(kms.decryptDataKey(dk.wrapped, 'secret:other', caller), rejectsWith('DATA_KEY_INVALID'));
      const flipped = Buffer.from(dk.wrapped);
      flipped[flipped.length - 1]! ^= 1;
      await assert.rejects(kms.decryptDataKey(flipped, 'secret:abc', caller), rejectsWith('DATA_KEY_INVALID'));
      const keys = await s.call<{ keys: { name: string; managedBy: string }[] }>('GET', '/api/v1/projects/default/keys', undefined, admin);
      assert.ok(keys.body.keys.some((k) => k.name === 'sightline-secrets' && k.managedBy === 'service'));
    });

    test('customer keys: rotate, disable, enable, schedule deletion, cancel, destroy (crypto-shredding)', async () => {
      const kms = s.plane.services.kms;
      const created = await s.call<{ id: string; state: string }>('POST', '/api/v1/projects/default/keys', { name: 'cmk-logs', description: 'our key' }, admin);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const target = { project: 'default', purpose: 'logs' as const, keyId: created.body.id };
      const v1 = await kms.generateDataKey(target, 'log:1', caller);
      const blob = encryptWith(v1.key, 'line one');

      const rotated = await s.call<{ currentVersion: number }>('POST', '/api/v1/projects/default/keys/cmk-logs/rotate', undefined, admin);
      assert.equal(rotated.body.currentVersion, 2);
      const v2 = await kms.generateDataKey(target, 'log:2', caller);
      assert.equal(parseWrappedKey(v1.wrapped).keyVersion, 1);
      assert.equal(parseWrappedKey(v2.wrapped).keyVersion, 2, 'new data uses the newest version');
      assert.equal(decryptWith(await kms.decryptDataKey(v1.wrapped, 'log:1', caller), blob), 'line one', 'old versions still decrypt');

      assert.equal((await s.call('POST', '/api/v1/projects/default/keys/cmk-logs/disable', undefined, admin)).status, 200);
      await assert.rejects(kms.decryptDataKey(v1.wrapped, 'log:1', caller), rejectsWith('KEY_DISABLED'));
      await assert.rejects(kms.generateDataKey(target, 'log:3', caller), rejectsWith('KEY_DISABLED'));
      await s.call('POST', '/api/v1/projects/default/keys/cmk-logs/enable', undefined, admin);
      assert.equal(decryptWith(await kms.decryptDataKey(v1.wrapped, 'log:1', caller), blob), 'line one');

      const tooSoon = await s.call<{ error: { code: string } }>('POST', '/api/v1/projects/default/keys/cmk-logs/schedule-deletion', { days: 6 }, admin);
      assert.equal(tooSoon.status, 400);
      const scheduled = await s.call<{ state: string; deletionDate: string }>('POST', '/api/v1/projects/default/keys/cmk-logs/schedule-deletion', {}, admin);
      assert.equal(scheduled.body.state, 'pending-deletion');
      assert.equal(Date.parse(scheduled.body.deletionDate), s.clock.now() + 30 * DAY);
      await assert.rejects(kms.decryptDataKey(v1.wrapped, 'log:1', caller), rejectsWith('KEY_PENDING_DELETION'));
      const cancelled = await s.call<{ state: string }>('POST', '/api/v1/projects/default/keys/cmk-logs/cancel-deletion', undefined, admin);
      assert.equal(cancelled.body.state, 'disabled');

      await s.call('POST', '/api/v1/projects/default/keys/cmk-logs/schedule-deletion', { days: 7 }, admin);
      s.clock.advance(6 * DAY);
      assert.equal(await kms.destroyDue(), 0, 'not before the waiting period ends');
      s.clock.advance(1 * DAY + 1);
      assert.equal(await kms.destroyDue(), 1);
      admin = await s.adminToken(true); // a week passed: the old session expired
      await assert.rejects(kms.decryptDataKey(v1.wrapped, 'log:1', caller), (e: unknown) => e instanceof KmsError && e.code === 'KEY_DESTROYED' && /gone for good/.test(e.message));
      const described = await s.call<{ state: string; versions: { destroyed: boolean }[] }>('GET', '/api/v1/projects/default/keys/cmk-logs', undefined, admin);
      assert.equal(described.body.state, 'destroyed');
      assert.ok(described.body.versions.every((v) => v.destroyed));
      const enableAgain = await s.call<{ error: { code: string } }>('POST', '/api/v1/projects/default/keys/cmk-logs/enable', undefined, admin);
      assert.equal(enableAgain.body.error.code, 'KEY_STATE_INVALID');
    });

    test('a key policy that denies a user stops that user from using the key', async () => {
      const kms = s.plane.services.kms;
      const policy = { version: '2026-01-01', statements: [{ effect: 'deny', actions: ['key:Use'], resources: ['srn:sightline:default:key/locked'] }] };
      const created = await s.call<{ id: string }>('POST', '/api/v1/projects/default/keys', { name: 'locked', policy }, admin);
      assert.equal(created.status, 201);
      await assert.rejects(
        kms.generateDataKey({ project: 'default', purpose: 'logs', keyId: created.body.id }, 'x', caller),
        (e: unknown) => (e as { code?: string }).code === 'ACCESS_DENIED',
      );
      // The control plane itself (system caller) is still bound by the key's state, not by user policies.
      const sys: KeyCaller = { principal: { type: 'system', id: 'system', name: 'sightline' }, requestId: 'sys', sourceIp: '127.0.0.1' };
      const dk = await kms.generateDataKey({ project: 'default', purpose: 'logs', keyId: created.body.id }, 'x', sys);
      assert.equal(dk.wrapped.length > 40, true);
    });

    test('every key use is an audit event naming the key and caller, never the key material', async () => {
      const events = await s.call<{ events: { event: { action: string; principal: { name: string }; parameters: Record<string, unknown> } }[] }>(
        'GET',
        '/api/v1/audit/events?action=key:Use&limit=1000',
        undefined,
        admin,
      );
      const uses = events.body.events.map((e) => e.event);
      assert.equal(uses.length, 7, 'each successful generate or decrypt above is one event (refusals are recorded by the API call that asked)');
      assert.ok(uses.every((u) => typeof u.parameters['keyId'] === 'string' && ['GenerateDataKey', 'Decrypt'].includes(String(u.parameters['operation']))));
      assert.ok(uses.some((u) => u.principal.name === 'admin'));
      assert.ok(!JSON.stringify(uses).match(/material|"key":/i));
    });
  });
}

import 'reflect-metadata';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { FrozenClock } from '../src/clock.js';
import { DeviceService, type DevicePrincipal } from '../src/devices/device.service.js';
import type { AuditRecord } from '../src/http/pipeline.js';
import { Store } from '../src/storage/store.js';
import { testDatabases } from '../src/storage/test-databases.js';
import { createCertificateAuthority, type Issued } from '../src/tls/ca.js';
import { keyAndCsr } from './device-client.js';

const DAY = 86_400_000;

/** A serial and SHA-256 as the pipeline reads them from the TLS peer certificate. */
function idOf(certPem: string): { serial: string; sha256: string } {
  const c = new X509Certificate(certPem);
  return { serial: c.serialNumber.toLowerCase(), sha256: c.fingerprint256.replaceAll(':', '').toLowerCase() };
}

for (const target of await testDatabases()) {
  describe(`[${target.name}] device principals: cached per certificate, never past a write`, () => {
    let opened: Awaited<ReturnType<typeof target.open>>;
    let store: Store;
    let ca: Issued;
    const clock = new FrozenClock(Date.now());
    const audited: AuditRecord[] = [];
    const service = (cachePrincipals?: boolean): DeviceService =>
      new DeviceService(
        store,
        () => ca,
        { record: (e) => Promise.resolve(void audited.push(e)) },
        clock,
        { controlPlaneUrl: () => 'https://127.0.0.1:1', serverCertSha256: () => '0'.repeat(64), provisioningValidityMinutes: 60, operationalCertDays: 30, onlineWindowSeconds: 90 },
        cachePrincipals === undefined ? {} : { cachePrincipals },
      );

    /** Provisions and registers `name`; returns its operational certificate's identity. */
    async function registered(devices: DeviceService, name: string): Promise<{ serial: string; sha256: string }> {
      const p = await devices.provision({ project: 'default', name, network: { mode: 'dhcp' }, ntp: [] });
      const provRow = await store.db.selectFrom('device_certs').select(['serial', 'sha256']).where('device_id', '=', p.device.id).executeTakeFirstOrThrow();
      const prov = await devices.principalForCert(provRow.serial, provRow.sha256);
      const { csrPem } = await keyAndCsr(name);
      const reg = await store.transaction(() => devices.register(prov, csrPem));
      return idOf(reg.certPem);
    }

    before(async () => {
      opened = await target.open();
      store = new Store(opened.db, opened.engine);
      ca = await createCertificateAuthority('test CA', new Date(clock.now() - DAY));
    });
    after(() => opened.cleanup());

    test('the cache is on for SQLite (one writer) and off for PostgreSQL (replicas write too)', async () => {
      const devices = service();
      const id = await registered(devices, 'cache-default');
      const first = await devices.principalForCert(id.serial, id.sha256);
      // A write behind the service's back (as another replica would make) ...
      await store.db.updateTable('devices').set({ name: 'renamed-elsewhere' }).where('id', '=', first.deviceId).execute();
      const second = await devices.principalForCert(id.serial, id.sha256);
      // ... is seen at once without the cache; with it, the entry stands until this service writes.
      assert.equal(second.name, target.name === 'sqlite' ? 'cache-default' : 'renamed-elsewhere');
    });

    for (const cachePrincipals of [true, false]) {
      const mode = cachePrincipals ? 'cached' : 'uncached';

      test(`${mode}: a rename is visible on the next request`, async () => {
        const devices = service(cachePrincipals);
        const id = await registered(devices, `rn-${mode}`);
        assert.equal((await devices.principalForCert(id.serial, id.sha256)).name, `rn-${mode}`);
        await store.transaction(() => devices.rename('default', `rn-${mode}`, `rn2-${mode}`));
        assert.equal((await devices.principalForCert(id.serial, id.sha256)).name, `rn2-${mode}`);
      });

      test(`${mode}: deregistration refuses the very next request`, async () => {
        const devices = service(cachePrincipals);
        const id = await registered(devices, `dr-${mode}`);
        const p: DevicePrincipal = await devices.principalForCert(id.serial, id.sha256);
        assert.equal(p.certKind, 'operational');
        await devices.principalForCert(id.serial, id.sha256);
        await store.transaction(() => devices.deregister('default', `dr-${mode}`));
        await assert.rejects(devices.principalForCert(id.serial, id.sha256), { code: 'CERT_REVOKED' });
      });

      test(`${mode}: a rolled-back deregistration leaves the device working; a committed one inside a request refuses it`, async () => {
        const devices = service(cachePrincipals);
        const id = await registered(devices, `tx-${mode}`);
        await devices.principalForCert(id.serial, id.sha256);
        await assert.rejects(
          store.transaction(async () => {
            await devices.deregister('default', `tx-${mode}`);
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.equal((await devices.principalForCert(id.serial, id.sha256)).name, `tx-${mode}`);
        await store.transaction(async () => {
          await devices.deregister('default', `tx-${mode}`);
          // A lookup inside the deregistering transaction (as another call of the same device could make) sees it too.
          await assert.rejects(devices.principalForCert(id.serial, id.sha256), { code: 'CERT_REVOKED' });
        });
        await assert.rejects(devices.principalForCert(id.serial, id.sha256), { code: 'CERT_REVOKED' });
      });

      test(`${mode}: expiry is checked against the clock on every request`, async () => {
        const devices = service(cachePrincipals);
        const id = await registered(devices, `ex-${mode}`);
        await devices.principalForCert(id.serial, id.sha256);
        const start = clock.now();
        try {
          clock.advance(31 * DAY);
          await assert.rejects(devices.principalForCert(id.serial, id.sha256), { code: 'CERT_EXPIRED' });
        } finally {
          clock.set(start);
        }
        assert.equal((await devices.principalForCert(id.serial, id.sha256)).name, `ex-${mode}`);
      });

      test(`${mode}: a certificate whose fingerprint differs is refused, cached serial or not`, async () => {
        const devices = service(cachePrincipals);
        const id = await registered(devices, `fp-${mode}`);
        await devices.principalForCert(id.serial, id.sha256);
        await assert.rejects(devices.principalForCert(id.serial, 'f'.repeat(64)), { code: 'CERT_UNTRUSTED' });
        await assert.rejects(devices.principalForCert('00', id.sha256), { code: 'CERT_UNTRUSTED' });
      });

      test(`${mode}: a caller changing the principal it got does not change the next one`, async () => {
        const devices = service(cachePrincipals);
        const id = await registered(devices, `mut-${mode}`);
        const p = await devices.principalForCert(id.serial, id.sha256);
        p.name = 'someone-else';
        assert.equal((await devices.principalForCert(id.serial, id.sha256)).name, `mut-${mode}`);
      });
    }
  });
}

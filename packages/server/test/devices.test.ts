import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decrypter } from 'age-encryption';
import { deviceApi } from '@sightline/protocol';
import { createCertificateAuthority, issueCertificate, pkcs8ToPem } from '../src/tls/ca.js';
import { deviceCall, keyAndCsr } from './device-client.js';
import { engines, startTestServer, type TestServer } from './harness.js';

interface Provisioned {
  archive: string;
  passphrase: string;
  archiveSha256: string;
  device: { name: string; state: string };
}
type Archive = deviceApi.ProvisioningArchive;

async function openArchive(p: Provisioned): Promise<Archive> {
  const d = new Decrypter();
  d.addPassphrase(p.passphrase);
  return deviceApi.provisioningArchive.parse(JSON.parse(await d.decrypt(Buffer.from(p.archive, 'base64'), 'text')));
}

for (const engine of await engines()) {
  describe(`[${engine}] devices: provisioning, registration, mTLS identity`, () => {
    let s: TestServer;
    let admin: string;
    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
    });
    after(() => s.close());

    const provision = async (name: string, extra: Record<string, unknown> = {}): Promise<Provisioned> => {
      const r = await s.call<Provisioned>('POST', '/api/v1/projects/default/devices', { name, ...extra }, admin);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    };

    test('the archive is age-encrypted, opens with the one-time passphrase, carries what registration needs, and is not kept', async () => {
      const p = await provision('cam-box-1', { network: { mode: 'static', address: '10.0.0.5/24', gateway: '10.0.0.1', dns: ['10.0.0.1'] }, ntp: ['pool.ntp.org'] });
      assert.match(p.passphrase, /^([A-Z2-7]{5}-){4}[A-Z2-7]{5}$/);
      const bytes = Buffer.from(p.archive, 'base64');
      assert.equal(bytes.subarray(0, 21).toString(), 'age-encryption.org/v1');
      const a = await openArchive(p);
      assert.equal(a.device, 'cam-box-1');
      assert.deepEqual(a.network, { mode: 'static', address: '10.0.0.5/24', gateway: '10.0.0.1', dns: ['10.0.0.1'] });
      assert.match(a.controlPlane.serverCertSha256, /^[0-9a-f]{64}$/);
      assert.match(a.provisioning.keyPem, /BEGIN PRIVATE KEY/);
      const wrong = new Decrypter();
      wrong.addPassphrase('AAAAA-AAAAA-AAAAA-AAAAA-AAAAA');
      await assert.rejects(wrong.decrypt(bytes, 'text'));
      // The server keeps only hashes: neither the archive nor its key is in the data folder.
      const described = await s.call<{ certificates: { kind: string }[] }>('GET', '/api/v1/projects/default/devices/cam-box-1', undefined, admin);
      assert.equal(described.body.certificates[0]?.kind, 'provisioning');
      const again = await s.call<{ error: { code: string } }>('POST', '/api/v1/projects/default/devices', { name: 'cam-box-1' }, admin);
      assert.equal(again.body.error.code, 'ALREADY_EXISTS', 'the archive cannot be asked for again');
    });

    test('Debian age opens the archive with the passphrase', { skip: !hasAge() && 'Debian age is not installed' }, async () => {
      const p = await provision('cam-age');
      const dir = mkdtempSync(join(tmpdir(), 'sightline-age-'));
      writeFileSync(join(dir, 'archive.age'), Buffer.from(p.archive, 'base64'));
      // age reads passphrases from a terminal only: give it one with script(1).
      const out = execFileSync('script', ['-qec', `age -d ${join(dir, 'archive.age')}`, '/dev/null'], { input: `${p.passphrase}\n`, encoding: 'utf8', timeout: 30_000 });
      assert.match(out, /"device":"cam-age"/);
    });

    test('register with the provisioning certificate and a CSR; then heartbeat, long-poll and jobs over mTLS', async () => {
      const p = await provision('cam-box-2');
      const a = await openArchive(p);
      const prov = { cert: a.provisioning.certPem, key: a.provisioning.keyPem };
      const { keyPem, csrPem } = await keyAndCsr('cam-box-2');
      const reg = await deviceCall<{ certPem: string; device: string; expiresAt: string }>(s.port, a.caPem, prov, 'POST', '/device/v1/register', { csrPem });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      assert.equal(reg.body.device, 'cam-box-2');
      assert.ok(Date.parse(reg.body.expiresAt) - s.clock.now() > 29 * 86_400_000);
      const me = { cert: reg.body.certPem, key: keyPem };

      const used = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, prov, 'POST', '/device/v1/register', { csrPem });
      assert.equal(used.body.error.code, 'PROVISIONING_CERT_USED');

      const hb = {
        agentVersion: '0.1.0',
        uptimeSeconds: 12,
        integrity: { state: 'verified' },
        rootKeyProtection: 'tpm',
        disk: { totalBytes: 100, freeBytes: 50 },
        memory: { totalBytes: 100, freeBytes: 60 },
        cpu: { load1: 0.2, cores: 2 },
      };
      assert.equal((await deviceCall(s.port, a.caPem, me, 'POST', '/device/v1/heartbeat', hb)).status, 200);
      const list = await s.call<{ devices: { name: string; online: boolean; state: string; agentVersion: string }[] }>('GET', '/api/v1/projects/default/devices', undefined, admin);
      const row = list.body.devices.find((d) => d.name === 'cam-box-2');
      assert.deepEqual([row?.online, row?.state, row?.agentVersion], [true, 'registered', '0.1.0']);

      const first = await deviceCall<{ etag: string; jobs: unknown[] }>(s.port, a.caPem, me, 'GET', '/device/v1/desired-state');
      assert.equal(first.status, 200);
      assert.equal(first.headers['etag'], `"${first.body.etag}"`);
      const t0 = Date.now();
      const quiet = await deviceCall(s.port, a.caPem, me, 'GET', '/device/v1/desired-state?wait=1', undefined, { 'if-none-match': `"${first.body.etag}"` });
      assert.equal(quiet.status, 304);
      assert.ok(Date.now() - t0 >= 750, 'the long-poll waited (1 s, less at most a fifth of jitter)');
      // A job wakes a waiting long-poll at once.
      const waiting = deviceCall<{ jobs: { id: string; kind: string }[] }>(s.port, a.caPem, me, 'GET', '/device/v1/desired-state?wait=20', undefined, { 'if-none-match': `"${first.body.etag}"` });
      await new Promise((r) => setTimeout(r, 200));
      const t1 = Date.now();
      const job = await s.call<{ id: string }>('POST', '/api/v1/projects/default/devices/cam-box-2/reboot', undefined, admin);
      assert.equal(job.status, 202);
      const woke = await waiting;
      assert.equal(woke.status, 200);
      assert.ok(Date.now() - t1 < 5000);
      assert.equal(woke.body.jobs[0]?.kind, 'reboot');
      assert.equal((await deviceCall(s.port, a.caPem, me, 'POST', `/device/v1/jobs/${job.body.id}`, { status: 'succeeded' })).status, 200);
      const jobs = await s.call<{ jobs: { status: string }[] }>('GET', '/api/v1/projects/default/devices/cam-box-2/jobs', undefined, admin);
      assert.equal(jobs.body.jobs[0]?.status, 'succeeded');

      // Logs: shipped over mTLS into the device's own encrypted log group.
      const shipped = await deviceCall<{ count: number }>(s.port, a.caPem, me, 'POST', '/device/v1/logs', {
        stream: 'agent',
        events: [{ time: new Date(s.clock.now()).toISOString(), level: 'info', message: 'camera ingest started for lobby' }],
        dropped: 3,
      });
      assert.equal(shipped.status, 200, JSON.stringify(shipped.body));
      const tail = await s.call<{ events: { message: string; level: string }[] }>('GET', '/api/v1/projects/default/log-groups/device-cam-box-2/events', undefined, admin);
      assert.equal(tail.status, 200, JSON.stringify(tail.body));
      assert.deepEqual(
        tail.body.events.map((e) => e.message),
        ["The agent's spool dropped 3 older log lines while it was offline (quota reached).", 'camera ingest started for lobby'],
      );

      // The identity matrix: a device certificate on the user API, a user token on the device API.
      const wrongApi = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, me, 'GET', '/api/v1/users');
      assert.deepEqual([wrongApi.status, wrongApi.body.error.code], [403, 'WRONG_API']);
      const tokenOnDevice = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, undefined, 'GET', '/device/v1/desired-state', undefined, { authorization: `Bearer ${admin}` });
      assert.deepEqual([tokenOnDevice.status, tokenOnDevice.body.error.code], [401, 'CERT_REQUIRED']);
      const provOnState = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, prov, 'GET', '/device/v1/desired-state');
      assert.equal(provOnState.status, 403, 'the provisioning certificate only registers');

      // Deregister: the very next request is refused.
      assert.equal((await s.call('POST', '/api/v1/projects/default/devices/cam-box-2/deregister', undefined, admin)).status, 200);
      const refused = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, me, 'POST', '/device/v1/heartbeat', hb);
      assert.deepEqual([refused.status, refused.body.error.code], [401, 'CERT_REVOKED']);
    });

    test('a CSR for another device\'s name is refused and leaves the archive usable', async () => {
      const p = await provision('cam-box-3');
      const a = await openArchive(p);
      const prov = { cert: a.provisioning.certPem, key: a.provisioning.keyPem };
      const other = await keyAndCsr('cam-box-1');
      const r = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, prov, 'POST', '/device/v1/register', { csrPem: other.csrPem });
      assert.equal(r.body.error.code, 'CSR_NAME_MISMATCH');
      const bad = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, prov, 'POST', '/device/v1/register', { csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'.padEnd(120, ' ') });
      assert.equal(bad.body.error.code, 'CSR_INVALID');
      const good = await keyAndCsr('cam-box-3');
      assert.equal((await deviceCall(s.port, a.caPem, prov, 'POST', '/device/v1/register', { csrPem: good.csrPem })).status, 200, 'nothing was half-registered');
    });

    test('an expired provisioning certificate and a certificate from another CA are refused with their codes', async () => {
      const realNow = s.clock.now();
      s.clock.set(realNow - 3 * 3_600_000);
      const p = await provision('cam-late', { validityMinutes: 60 });
      s.clock.set(realNow);
      const a = await openArchive(p);
      const { csrPem } = await keyAndCsr('cam-late');
      const late = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, { cert: a.provisioning.certPem, key: a.provisioning.keyPem }, 'POST', '/device/v1/register', { csrPem });
      assert.deepEqual([late.status, late.body.error.code], [401, 'PROVISIONING_CERT_EXPIRED']);

      const rogue = await createCertificateAuthority('rogue');
      const forged = await issueCertificate(rogue, { commonName: 'cam-box-1', usage: 'client', validityDays: 1 });
      const r = await deviceCall<{ error: { code: string } }>(s.port, a.caPem, { cert: forged.certPem, key: pkcs8ToPem(forged.keyPkcs8!) }, 'POST', '/device/v1/heartbeat', {});
      assert.deepEqual([r.status, r.body.error.code], [401, 'CERT_UNTRUSTED']);
    });
  });
}

function hasAge(): boolean {
  try {
    execFileSync('age', ['--version']);
    return true;
  } catch {
    return false;
  }
}

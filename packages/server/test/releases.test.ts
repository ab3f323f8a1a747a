import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decrypter } from 'age-encryption';
import { BaseFetcher, Updater } from 'tuf-js';
import { DownloadHTTPError } from 'tuf-js/dist/error.js';
import type { Metadata, Root, Targets } from '@tufjs/models';
import {
  buildRoot,
  bundleTargetName,
  generateReleaseKey,
  nextRoot,
  nextTargets,
  packBundle,
  parseMetadata,
  releaseSigner,
  releaseTarget,
  signMetadata,
  type ReleaseSigner,
} from '@sightline/core';
import { deviceApi } from '@sightline/protocol';
import { upload } from './artifacts-transfer.js';
import { engines, startTestServer, type TestServer } from './harness.js';
import { registerDevice, type RegisteredDevice } from './packages-publish.js';

interface Err {
  error: { code: string; message: string };
}
interface Listing {
  releases: { version: string; securityVersion: number }[];
  root: { version: number } | null;
  targetsVersion: number | null;
}
interface JobBody {
  job: { id: string; status: string; stage: string | null; bytesDone: number | null; bytesTotal: number | null; message: string | null; history: { stage: string }[]; updatedAt: string; etag: string };
}

const signer = (): ReleaseSigner => releaseSigner(generateReleaseKey());
const DAY = 86_400_000;

/** A fetcher for tuf-js that speaks mTLS with the device's certificate, as the agent's does. */
class DeviceFetcher extends BaseFetcher {
  constructor(private readonly d: RegisteredDevice) {
    super();
  }
  fetch(url: string): Promise<NodeJS.ReadableStream> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', servername: 'localhost', port: Number(u.port), path: u.pathname, ca: this.d.caPem, cert: this.d.identity.cert, key: this.d.identity.key }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new DownloadHTTPError(`GET ${u.pathname}: ${res.statusCode}`, res.statusCode ?? 0));
          return;
        }
        resolve(res);
      });
      req.on('error', reject);
      req.end();
    });
  }
}

function updater(s: TestServer, d: RegisteredDevice, trustedRoot: Buffer): { updater: Updater; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sightline-tuf-'));
  writeFileSync(join(dir, 'root.json'), trustedRoot);
  const base = `https://localhost:${s.port}/device/v1/tuf`;
  return { dir, updater: new Updater({ metadataDir: dir, targetDir: dir, metadataBaseUrl: `${base}/metadata`, targetBaseUrl: `${base}/targets`, fetcher: new DeviceFetcher(d) }) };
}

for (const engine of await engines()) {
  describe(`[${engine}] signed releases (TUF) and update jobs`, () => {
    let s: TestServer;
    let admin: string;
    let edge: RegisteredDevice;
    const rootKey = signer();
    const targetsKey = signer();
    let root1: Metadata<Root>;
    let targets1: Metadata<Targets>;
    const bundles = new Map<string, Buffer>();

    const release = async (version: string, securityVersion: number, prev: Targets | undefined, signers: ReleaseSigner[], now = new Date()): Promise<Metadata<Targets>> => {
      const bytes = packBundle({ version, files: [{ path: 'dist/main.js', data: Buffer.from(`console.log(${JSON.stringify(version)})`) }] });
      bundles.set(version, bytes);
      const put = await upload({ port: s.port, ca: s.ca, token: admin }, `/api/v1/projects/default/artifacts/releases/${bundleTargetName(version)}`, bytes);
      assert.ok(put.status === 201 || put.status === 409, `bundle upload ${put.status}`);
      return signMetadata(nextTargets(prev, [releaseTarget(bundleTargetName(version), bytes, { version, securityVersion, required: true })], now), signers);
    };
    const listing = async (): Promise<Listing> => (await s.call<Listing>('GET', '/api/v1/releases', undefined, admin)).body;

    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
      edge = await registerDevice(s, admin, 'edge-1');
    });
    after(() => s.close());

    test('a root signed offline with this control plane\'s online keys is installed; provisioning archives then carry it', async () => {
      const none = await s.call<Err>('POST', '/api/v1/releases', { targets: {} }, admin);
      assert.equal(none.status, 409);
      assert.equal(none.body.error.code, 'TUF_ROOT_MISSING');
      const online = await s.call<{ snapshot: { key: Record<string, unknown>; keyId: string }; timestamp: { keyId: string } }>('GET', '/api/v1/releases/online-keys', undefined, admin);
      assert.equal(online.status, 200);
      const services = s.plane.services.releases;
      const keys = await services.onlineKeys();
      assert.equal(online.body.snapshot.keyId, keys.snapshot.key.keyID);
      // A root naming other snapshot/timestamp keys is refused.
      const foreign = signMetadata(buildRoot({ root: [rootKey.key], rootThreshold: 1, targets: [targetsKey.key], targetsThreshold: 1, snapshot: [signer().key], timestamp: [keys.timestamp.key] }, 1, new Date()), [rootKey]);
      const bad = await s.call<Err>('POST', '/api/v1/releases/root', { root: foreign.toJSON() }, admin);
      assert.equal(bad.body.error.code, 'TUF_ONLINE_KEYS_MISMATCH');
      root1 = signMetadata(buildRoot({ root: [rootKey.key], rootThreshold: 1, targets: [targetsKey.key], targetsThreshold: 1, snapshot: [keys.snapshot.key], timestamp: [keys.timestamp.key] }, 1, new Date()), [rootKey]);
      const ok = await s.call<{ version: number }>('POST', '/api/v1/releases/root', { root: root1.toJSON() }, admin);
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal(ok.body.version, 1);

      const prov = await s.call<{ archive: string; passphrase: string }>('POST', '/api/v1/projects/default/devices', { name: 'edge-9' }, admin);
      const d = new Decrypter();
      d.addPassphrase(prov.body.passphrase);
      const archive = deviceApi.provisioningArchive.parse(JSON.parse(await d.decrypt(Buffer.from(prov.body.archive, 'base64'), 'text')));
      assert.ok(archive.tufRoot !== undefined);
      assert.equal(parseMetadata('root', Buffer.from(archive.tufRoot, 'base64')).signed.version, 1);
    });

    test('targets signed by an unknown key, below threshold, expired, or without their bundle are refused and nothing is written', async () => {
      const stranger = await release('1.0.0', 1, undefined, [signer()]);
      const r1 = await s.call<Err>('POST', '/api/v1/releases', { targets: stranger.toJSON() }, admin);
      assert.equal(r1.body.error.code, 'METADATA_UNKNOWN_SIGNER');
      const unsigned = await release('1.0.0', 1, undefined, []);
      const r2 = await s.call<Err>('POST', '/api/v1/releases', { targets: unsigned.toJSON() }, admin);
      assert.equal(r2.body.error.code, 'METADATA_THRESHOLD');
      const expired = await release('1.0.0', 1, undefined, [targetsKey], new Date(Date.now() - 91 * DAY));
      const r3 = await s.call<Err>('POST', '/api/v1/releases', { targets: expired.toJSON() }, admin);
      assert.equal(r3.status, 409);
      assert.equal(r3.body.error.code, 'METADATA_EXPIRED');
      // Bytes that differ from the target's hash: the uploaded bundle is not the signed one.
      const forged = signMetadata(nextTargets(undefined, [releaseTarget(bundleTargetName('1.0.0'), Buffer.from('other bytes'), { version: '1.0.0', securityVersion: 1, required: true })], new Date()), [targetsKey]);
      const r4 = await s.call<Err>('POST', '/api/v1/releases', { targets: forged.toJSON() }, admin);
      assert.equal(r4.body.error.code, 'RELEASE_BUNDLE_MISSING');
      const l = await listing();
      assert.deepEqual([l.releases.length, l.targetsVersion], [0, null], 'nothing was written');
    });

    test('valid offline-signed targets publish; a tuf-js client on the device routes refreshes and downloads the bundle', async () => {
      targets1 = await release('1.0.0', 1, undefined, [targetsKey]);
      const ok = await s.call<{ targetsVersion: number; releases: { version: string }[] }>('POST', '/api/v1/releases', { targets: targets1.toJSON() }, admin);
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.deepEqual([ok.body.targetsVersion, ok.body.releases.map((r) => r.version)], [1, ['1.0.0']]);
      const again = await s.call<Err>('POST', '/api/v1/releases', { targets: targets1.toJSON() }, admin);
      assert.equal(again.body.error.code, 'TARGETS_VERSION_STALE');

      const { updater: u, dir } = updater(s, edge, Buffer.from(JSON.stringify(root1.toJSON())));
      await u.refresh();
      const info = await u.getTargetInfo(bundleTargetName('1.0.0'));
      assert.ok(info !== undefined);
      assert.deepEqual(info.custom['sightline'], { version: '1.0.0', securityVersion: 1, required: true });
      const path = await u.downloadTarget(info, join(dir, 'bundle.tar'));
      assert.deepEqual(readFileSync(path), bundles.get('1.0.0'));
      // Without a device certificate there is nothing to read.
      const anon = await s.call<Err>('GET', '/device/v1/tuf/metadata/timestamp.json');
      assert.ok(anon.status === 401 || anon.status === 403, String(anon.status));
    });

    test('root rotation: the chain signed by the old and new keys is accepted and followed by tuf-js; one signed only by new keys is refused', async () => {
      const newRootKey = signer();
      const root2 = signMetadata(nextRoot(root1.signed, { root: [newRootKey.key] }, new Date()), [rootKey, newRootKey]);
      const onlyNew = signMetadata(nextRoot(root1.signed, { root: [newRootKey.key] }, new Date()), [newRootKey]);
      const r = await s.call<Err>('POST', '/api/v1/releases/root', { root: onlyNew.toJSON() }, admin);
      assert.equal(r.body.error.code, 'METADATA_THRESHOLD');
      const ok = await s.call<{ version: number }>('POST', '/api/v1/releases/root', { root: root2.toJSON() }, admin);
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      // Root 3 needs root 2's key and its own new key: root 2's key alone is not enough.
      const root3 = signMetadata(nextRoot(root2.signed, { root: [signer().key] }, new Date()), [newRootKey]);
      assert.equal((await s.call<Err>('POST', '/api/v1/releases/root', { root: root3.toJSON() }, admin)).body.error.code, 'METADATA_THRESHOLD');

      const { updater: u, dir } = updater(s, edge, Buffer.from(JSON.stringify(root1.toJSON())));
      await u.refresh();
      const trusted = parseMetadata('root', readFileSync(join(dir, 'root.json')));
      assert.equal(trusted.signed.version, 2, 'the client walked the chain from root 1 to root 2');
    });

    test('update job: stages reported by the device, long-poll, committed; stage timeout; downgrade below the floor refused and audited', async () => {
      const targets2 = await release('1.1.0', 2, targets1.signed, [targetsKey]);
      assert.equal((await s.call('POST', '/api/v1/releases', { targets: targets2.toJSON() }, admin)).status, 201);

      const created = await s.call<JobBody>('POST', '/api/v1/projects/default/devices/edge-1/update', {}, admin);
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const jobId = created.body.job.id;
      const state = await edge.call<deviceApi.DesiredState>('GET', '/device/v1/desired-state');
      const job = state.body.jobs.find((j) => j.id === jobId);
      assert.deepEqual(job?.params, { version: '1.1.0', target: bundleTargetName('1.1.0') });

      const jobPath = `/api/v1/projects/default/devices/edge-1/jobs/${jobId}`;
      const before = (await s.call<JobBody>('GET', jobPath, undefined, admin)).body.job;
      const report = (body: deviceApi.JobUpdateRequest): Promise<unknown> => edge.call('POST', `/device/v1/jobs/${jobId}`, body);
      const waiting = s.call<JobBody>('GET', `${jobPath}?wait=10&since=${encodeURIComponent(before.etag)}`, undefined, admin);
      await report({ status: 'running', stage: 'downloading', bytesDone: 100, bytesTotal: 2000 });
      const seen = (await waiting).body.job;
      assert.deepEqual([seen.stage, seen.bytesDone, seen.bytesTotal], ['downloading', 100, 2000]);
      for (const stage of ['verifying', 'installing', 'rebooting', 'health-check'] as const) await report({ status: 'running', stage });
      await report({ status: 'succeeded', message: 'committed' });
      const done = (await s.call<JobBody>('GET', jobPath, undefined, admin)).body.job;
      assert.deepEqual([done.status, done.stage], ['succeeded', 'committed']);
      assert.deepEqual(done.history.map((h) => h.stage), ['downloading', 'verifying', 'installing', 'rebooting', 'health-check', 'committed']);

      // A job that stops reporting fails with the stage that ran out; a late report does not revive it.
      const stuck = (await s.call<JobBody>('POST', '/api/v1/projects/default/devices/edge-1/update', { version: '1.1.0' }, admin)).body.job;
      await edge.call('POST', `/device/v1/jobs/${stuck.id}`, { status: 'running', stage: 'verifying' });
      assert.equal(await s.plane.services.releases.sweepStuck(s.clock.now() + 121_000), 1);
      await edge.call('POST', `/device/v1/jobs/${stuck.id}`, { status: 'succeeded' });
      const timedOut = (await s.call<JobBody>('GET', `/api/v1/projects/default/devices/edge-1/jobs/${stuck.id}`, undefined, admin)).body.job;
      assert.equal(timedOut.status, 'failed');
      assert.match(timedOut.message ?? '', /^STAGE_TIMEOUT: .*verifying/);

      // The device reports its anti-rollback floor; an older (validly signed) release is refused.
      const hb = {
        agentVersion: '1.1.0',
        uptimeSeconds: 5,
        integrity: { state: 'verified' },
        rootKeyProtection: 'key-file',
        disk: { totalBytes: 10, freeBytes: 5 },
        memory: { totalBytes: 10, freeBytes: 5 },
        cpu: { load1: 0, cores: 2 },
        update: { version: '1.1.0', securityFloor: 2, slot: 'b' },
      };
      assert.equal((await edge.call('POST', '/device/v1/heartbeat', hb)).status, 200);
      const down = await s.call<Err>('POST', '/api/v1/projects/default/devices/edge-1/update', { version: '1.0.0' }, admin);
      assert.equal(down.status, 409);
      assert.equal(down.body.error.code, 'UPDATE_BELOW_FLOOR');
      const fleet = await s.call<{ jobs: unknown[]; refused: { device: string; code: string }[] }>('POST', '/api/v1/projects/default/updates', { version: '1.0.0' }, admin);
      assert.equal(fleet.status, 202);
      assert.deepEqual(fleet.body.refused.map((r) => [r.device, r.code]), [['edge-1', 'UPDATE_BELOW_FLOOR']]);
      const audit = await s.call<{ events: { event: { errorCode?: string; resource: string } }[] }>('GET', '/api/v1/audit/events?action=device:UpdateSoftware&outcome=failed', undefined, admin);
      const refusals = audit.body.events.filter((e) => e.event.errorCode === 'UPDATE_BELOW_FLOOR' && e.event.resource.endsWith('device/edge-1'));
      assert.equal(refusals.length, 2, JSON.stringify(audit.body));

      // A release that needs a newer agent than the device runs is refused too.
      const bytes = packBundle({ version: '3.0.0', files: [] });
      const put = await upload({ port: s.port, ca: s.ca, token: admin }, `/api/v1/projects/default/artifacts/releases/${bundleTargetName('3.0.0')}`, bytes);
      assert.equal(put.status, 201);
      const targets3 = signMetadata(nextTargets(targets2.signed, [releaseTarget(bundleTargetName('3.0.0'), bytes, { version: '3.0.0', securityVersion: 3, required: false, minAgentVersion: '2.0.0' })], new Date()), [targetsKey]);
      assert.equal((await s.call('POST', '/api/v1/releases', { targets: targets3.toJSON() }, admin)).status, 201);
      const tooOld = await s.call<Err>('POST', '/api/v1/projects/default/devices/edge-1/update', { version: '3.0.0' }, admin);
      assert.equal(tooOld.body.error.code, 'UPDATE_AGENT_TOO_OLD');

      const l = await listing();
      assert.deepEqual(l.releases.map((r) => r.version), ['3.0.0', '1.1.0', '1.0.0']);

      // The fleet view: 3.0.0 is newer but not required; the device's floor (2) covers every required release.
      type Listed = { devices: { name: string; updateRequired: boolean | null; updateAvailable: string | null }[] };
      const listed = async (): Promise<Listed['devices'][number] | undefined> =>
        (await s.call<Listed>('GET', '/api/v1/projects/default/devices', undefined, admin)).body.devices.find((d) => d.name === 'edge-1');
      const current = await listed();
      assert.deepEqual([current?.updateRequired, current?.updateAvailable], [false, '3.0.0']);
      // A device still at floor 1 (it never committed 1.1.0, required, security version 2) needs an update.
      assert.equal((await edge.call('POST', '/device/v1/heartbeat', { ...hb, agentVersion: '1.0.0', update: { version: '1.0.0', securityFloor: 1, slot: 'a' } })).status, 200);
      const behind = await listed();
      assert.deepEqual([behind?.updateRequired, behind?.updateAvailable], [true, '3.0.0']);
      const described = await s.call<{ updateRequired: boolean | null }>('GET', '/api/v1/projects/default/devices/edge-1', undefined, admin);
      assert.equal(described.body.updateRequired, true);
      // A device that does not report its update state (an older agent) is "unknown", not "up to date".
      assert.equal((await edge.call('POST', '/device/v1/heartbeat', { ...hb, update: undefined })).status, 200);
      assert.equal((await listed())?.updateRequired, null);
    });

    test('the timestamp is re-signed before it expires', async () => {
      const first = JSON.parse((await s.plane.services.releases.metadataFile('timestamp.json')).toString()) as { signed: { version: number } };
      await s.plane.services.releases.maintain(s.clock.now() + 0.6 * DAY);
      const next = JSON.parse((await s.plane.services.releases.metadataFile('timestamp.json')).toString()) as { signed: { version: number } };
      assert.equal(next.signed.version, first.signed.version + 1);
    });
  });
}

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { STREAM_HEADER_BYTES } from '@sightline/core';
import { engines, startTestServer, type TestServer } from './harness.js';
import { artifactFiles, artifactPath, download, filesUnder, upload, type Target } from './artifacts-transfer.js';
import { signIn } from './users.js';

interface Err {
  error: { code: string; message: string };
}
interface View {
  project: string;
  name: string;
  size: number;
  sha256: string;
  segmentSize: number;
  keyId: string;
  createdBy: string;
}

const MiB = 1024 * 1024;
const DAY = 86_400_000;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Bytes of segment i (0-based) in a stored object with 1 MiB segments: frame marker, ciphertext, tag. */
const segmentAt = (i: number): number => STREAM_HEADER_BYTES + i * (1 + MiB + 16);
const contentOf = (name: string): string => `${artifactPath('default', name)}/content`;

/** Text that must never reach the disk in the clear; repeated so it spans segments. */
const MARKER = 'SIGHTLINE-ARTIFACT-PLAINTEXT-MARKER-7f3a';
function content(size: number): Buffer {
  const b = randomBytes(size);
  for (let at = 0; at + MARKER.length <= size; at += 256 * 1024) b.write(MARKER, at, 'latin1');
  return b;
}

async function events(
  s: TestServer,
  token: string,
  action: string,
): Promise<{ outcome: string; errorCode?: string; resource: string; parameters: Record<string, unknown> }[]> {
  const r = await s.call<{
    events: { event: { outcome: string; errorCode?: string; resource: string; parameters: Record<string, unknown> } }[];
  }>('GET', `/api/v1/audit/events?action=${encodeURIComponent(action)}&limit=1000`, undefined, token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.events.map((e) => e.event);
}

/** A raw request with our own headers and body (wrong content types and the like). */
function rawPut(
  s: TestServer,
  token: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; body: Err }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: s.port,
        method: 'PUT',
        path,
        ca: s.ca,
        headers: { authorization: `Bearer ${token}`, ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Err }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

for (const engine of await engines()) {
  describe(`[${engine}] artifact store`, () => {
    let s: TestServer;
    let admin: string;
    let t: Target;
    /** Every plaintext used here, to grep the data folder for at the end. */
    const used: Buffer[] = [];
    before(async () => {
      s = await startTestServer({ engine });
      admin = await s.adminToken();
      t = { port: s.port, ca: s.ca, token: admin };
    });
    after(() => s.close());

    const nothingStored = async (name: string, objectsBefore: number): Promise<void> => {
      const meta = await s.call<Err>('GET', artifactPath('default', name), undefined, admin);
      assert.equal(meta.status, 404, JSON.stringify(meta.body));
      assert.equal(meta.body.error.code, 'ARTIFACT_NOT_FOUND');
      const files = artifactFiles(s.dataDir);
      assert.equal(files.objects.length, objectsBefore, 'no object file left');
      assert.deepEqual(files.parts, [], 'no .part file left');
    };

    test('upload and download a multi-segment model: streamed, encrypted, SHA-256 recorded and sent', async () => {
      const data = content(3 * MiB + 12345);
      used.push(data);
      const name = 'models/blazeface/1.0.0.onnx';
      const put = await upload(t, artifactPath('default', name), data, { headers: { 'x-sightline-sha256': sha(data) } });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      const view = put.body as unknown as View;
      assert.equal(view.name, name);
      assert.equal(view.size, data.length);
      assert.equal(view.sha256, sha(data));
      assert.equal(view.segmentSize, MiB);
      assert.equal(view.createdBy, 'admin');

      const got = await download(t, contentOf(name), { keep: true });
      assert.equal(got.status, 200);
      assert.equal(got.broken, undefined);
      assert.equal(got.headers['content-length'], String(data.length), 'Content-Length = size, for progress bars');
      assert.equal(got.headers['content-type'], 'application/octet-stream');
      assert.equal(got.headers['x-sightline-sha256'], sha(data));
      assert.ok(got.body.equals(data));

      const meta = await s.call<View>('GET', artifactPath('default', name), undefined, admin);
      assert.equal(meta.status, 200);
      assert.equal(meta.body.size, data.length);

      // On disk: one object, ciphertext of the right length, not the plaintext.
      const { objects, parts } = artifactFiles(s.dataDir);
      assert.equal(objects.length, 1);
      assert.deepEqual(parts, []);
      const stored = readFileSync(objects[0] ?? '');
      assert.equal(stored.length, segmentAt(3) + 5 + 12345 + 16);
      assert.equal(stored.includes(data.subarray(1000, 1064)), false);

      // Audited: the upload, the download, and each use of the key, with the artifact's SRN.
      const puts = await events(s, admin, 'artifact:Put');
      assert.ok(puts.some((e) => e.outcome === 'allowed' && e.resource === `srn:sightline:default:artifact/${name}`));
      const gets = await events(s, admin, 'artifact:Get');
      assert.ok(gets.some((e) => e.outcome === 'allowed' && e.resource === `srn:sightline:default:artifact/${name}`));
      const uses = await events(s, admin, 'key:Use');
      assert.ok(
        uses.some(
          (e) => e.parameters['operation'] === 'GenerateDataKey' && String(e.parameters['encryptionContext']).startsWith('artifact:'),
        ),
      );
      assert.ok(
        uses.some((e) => e.parameters['operation'] === 'Decrypt' && String(e.parameters['encryptionContext']).startsWith('artifact:')),
      );
    });

    test('edge sizes round-trip: empty, one byte, exactly one segment, one segment plus one', async () => {
      for (const size of [0, 1, MiB, MiB + 1]) {
        const data = content(size);
        used.push(data);
        const name = `edge/size-${size}.bin`;
        const put = await upload(t, artifactPath('default', name), data);
        assert.equal(put.status, 201, `${size}: ${JSON.stringify(put.body)}`);
        const got = await download(t, contentOf(name), { keep: true });
        assert.equal(got.status, 200);
        assert.equal(got.headers['content-length'], String(size));
        assert.ok(got.body.equals(data), `size ${size}`);
      }
    });

    test('a chunked upload (no Content-Length) works and records the size it saw', async () => {
      const data = content(2 * MiB + 7);
      used.push(data);
      const pieces = [data.subarray(0, 100_000), data.subarray(100_000, 1_500_000), data.subarray(1_500_000)];
      const put = await upload(t, artifactPath('default', 'chunked/a.bin'), pieces);
      assert.equal(put.status, 201, JSON.stringify(put.body));
      assert.equal((put.body as unknown as View).size, data.length);
      const got = await download(t, contentOf('chunked/a.bin'));
      assert.equal(got.sha256, sha(data));
    });

    test('list with prefix and pages, in byte order', async () => {
      for (const n of ['list/b', 'list/a_1', 'list/a-2', 'list/A', 'listing/x']) {
        assert.equal((await upload(t, artifactPath('default', n), Buffer.from('x'))).status, 201);
      }
      const all = await s.call<{ artifacts: View[]; next: string | null }>(
        'GET',
        '/api/v1/projects/default/artifacts?prefix=list/',
        undefined,
        admin,
      );
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(
        all.body.artifacts.map((a) => a.name),
        ['list/A', 'list/a-2', 'list/a_1', 'list/b'],
      );
      assert.equal(all.body.next, null);
      const p1 = await s.call<{ artifacts: View[]; next: string | null }>(
        'GET',
        '/api/v1/projects/default/artifacts?prefix=list/&limit=3',
        undefined,
        admin,
      );
      assert.equal(p1.body.artifacts.length, 3);
      assert.equal(p1.body.next, 'list/a_1');
      const p2 = await s.call<{ artifacts: View[]; next: string | null }>(
        'GET',
        `/api/v1/projects/default/artifacts?prefix=list/&limit=3&after=${p1.body.next}`,
        undefined,
        admin,
      );
      assert.deepEqual(
        p2.body.artifacts.map((a) => a.name),
        ['list/b'],
      );
      // "_" is a name character, not a wildcard.
      const underscore = await s.call<{ artifacts: View[] }>('GET', '/api/v1/projects/default/artifacts?prefix=list/a_', undefined, admin);
      assert.deepEqual(
        underscore.body.artifacts.map((a) => a.name),
        ['list/a_1'],
      );
    });

    test('an existing name is refused with ALREADY_EXISTS unless ?overwrite=true, which replaces the object', async () => {
      const first = content(5000);
      const second = content(7000);
      used.push(first, second);
      const path = artifactPath('default', 'models/over.onnx');
      assert.equal((await upload(t, path, first)).status, 201);
      const objects = artifactFiles(s.dataDir).objects.length;
      const again = await upload(t, path, second);
      assert.equal(again.status, 409);
      assert.equal(again.body.error?.code, 'ALREADY_EXISTS');
      assert.equal(artifactFiles(s.dataDir).objects.length, objects, 'nothing written');
      assert.equal((await download(t, `${path}/content`)).sha256, sha(first));

      const replaced = await upload(t, `${path}?overwrite=true`, second);
      assert.equal(replaced.status, 201, JSON.stringify(replaced.body));
      assert.equal((await download(t, `${path}/content`)).sha256, sha(second));
      assert.equal(artifactFiles(s.dataDir).objects.length, objects, 'the old object is gone');
    });

    test('two uploads of one name at once: one wins, the other gets ALREADY_EXISTS, one object stored', async () => {
      const a = content(300_000);
      const b = content(300_000);
      used.push(a, b);
      const objects = artifactFiles(s.dataDir).objects.length;
      const path = artifactPath('default', 'race/one.bin');
      const results = await Promise.all([upload(t, path, a), upload(t, path, b)]);
      assert.deepEqual(results.map((r) => r.status).sort(), [201, 409], JSON.stringify(results));
      assert.equal(results.find((r) => r.status === 409)?.body.error?.code, 'ALREADY_EXISTS');
      assert.equal(artifactFiles(s.dataDir).objects.length, objects + 1);
      assert.deepEqual(artifactFiles(s.dataDir).parts, []);
    });

    test('a SHA-256 mismatch fails the upload with ARTIFACT_DIGEST_MISMATCH and stores nothing', async () => {
      const data = content(2 * MiB);
      used.push(data);
      const objects = artifactFiles(s.dataDir).objects.length;
      const r = await upload(t, artifactPath('default', 'bad/sha.bin'), data, {
        headers: { 'x-sightline-sha256': sha(Buffer.from('something else')) },
      });
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.error?.code, 'ARTIFACT_DIGEST_MISMATCH');
      await nothingStored('bad/sha.bin', objects);
      const failed = await events(s, admin, 'artifact:Put');
      assert.ok(failed.some((e) => e.outcome === 'failed' && e.errorCode === 'ARTIFACT_DIGEST_MISMATCH'));

      const malformed = await upload(t, artifactPath('default', 'bad/sha.bin'), data, { headers: { 'x-sightline-sha256': 'not-hex' } });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error?.code, 'ARTIFACT_SHA256_INVALID');
      await nothingStored('bad/sha.bin', objects);
    });

    test('bad names, content types and projects are refused with their codes, nothing written', async () => {
      const objects = artifactFiles(s.dataDir).objects.length;
      const body = Buffer.from('abc');
      for (const raw of ['models//x.onnx', 'models/a%20b.onnx', 'a/b/content', `${'x'.repeat(257)}`, 'models/%00.onnx']) {
        const r = await upload(t, `/api/v1/projects/default/artifacts/${raw}`, body);
        assert.equal(r.status, 400, `${raw}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error?.code, 'ARTIFACT_NAME_INVALID', raw);
      }
      const email = await upload(t, '/api/v1/projects/default/artifacts/jane.doe@example.com', body);
      assert.equal(email.body.error?.code, 'SENSITIVE_FREE_TEXT');
      const json = await rawPut(s, admin, artifactPath('default', 'x.bin'), { 'content-type': 'application/json' }, Buffer.from('{}'));
      assert.equal(json.status, 415);
      assert.equal(json.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
      const noProject = await upload(t, artifactPath('nowhere', 'x.bin'), body);
      assert.equal(noProject.status, 404);
      assert.equal(noProject.body.error?.code, 'PROJECT_NOT_FOUND');
      const missing = await download(t, contentOf('no/such.bin'));
      assert.equal(missing.status, 404);
      assert.equal(missing.error?.code, 'ARTIFACT_NOT_FOUND');
      assert.equal(artifactFiles(s.dataDir).objects.length, objects);
      assert.deepEqual(artifactFiles(s.dataDir).parts, []);
    });

    test('a client that disconnects mid-upload leaves nothing behind', async () => {
      const objects = artifactFiles(s.dataDir).objects.length;
      await new Promise<void>((resolve) => {
        const req = request({
          host: '127.0.0.1',
          servername: 'localhost',
          port: s.port,
          method: 'PUT',
          path: artifactPath('default', 'cut/off.bin'),
          ca: s.ca,
          headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${admin}`, 'content-length': String(8 * MiB) },
        });
        req.on('error', () => resolve());
        req.write(content(3 * MiB), () => setTimeout(() => req.destroy(), 200));
      });
      // The server notices the reset and cleans up.
      for (let i = 0; i < 50 && artifactFiles(s.dataDir).parts.length > 0; i++) await sleep(100);
      await nothingStored('cut/off.bin', objects);
      const failed = await events(s, admin, 'artifact:Put');
      assert.ok(failed.some((e) => e.outcome === 'failed' && e.errorCode === 'ARTIFACT_UPLOAD_INCOMPLETE'));
    });

    test('delete removes the row, then the bytes; a second delete is ARTIFACT_NOT_FOUND', async () => {
      const data = content(10_000);
      used.push(data);
      assert.equal((await upload(t, artifactPath('default', 'gone/soon.bin'), data)).status, 201);
      const objects = artifactFiles(s.dataDir).objects.length;
      const del = await s.call('DELETE', artifactPath('default', 'gone/soon.bin'), undefined, admin);
      assert.equal(del.status, 204);
      assert.equal(artifactFiles(s.dataDir).objects.length, objects - 1);
      const again = await s.call<Err>('DELETE', artifactPath('default', 'gone/soon.bin'), undefined, admin);
      assert.equal(again.status, 404);
      assert.equal(again.body.error.code, 'ARTIFACT_NOT_FOUND');
      const deletes = await events(s, admin, 'artifact:Delete');
      assert.ok(deletes.some((e) => e.outcome === 'allowed'));
    });

    test('least privilege: ReadOnly sees metadata and lists but cannot download or upload', async () => {
      const data = content(4096);
      used.push(data);
      assert.equal((await upload(t, artifactPath('default', 'ro/model.onnx'), data)).status, 201);
      const reader = await signIn(s, admin, `ro-${engine}`, [{ role: 'ReadOnly', project: 'default' }]);
      const rt: Target = { ...t, token: reader };
      assert.equal((await s.call('GET', artifactPath('default', 'ro/model.onnx'), undefined, reader)).status, 200);
      assert.equal((await s.call('GET', '/api/v1/projects/default/artifacts', undefined, reader)).status, 200);
      const got = await download(rt, contentOf('ro/model.onnx'));
      assert.equal(got.status, 403);
      assert.equal(got.error?.code, 'ACCESS_DENIED');
      const put = await upload(rt, artifactPath('default', 'ro/other.onnx'), data);
      assert.equal(put.status, 403);
      assert.equal(put.body.error?.code, 'ACCESS_DENIED');
      const dev = await signIn(s, admin, `dev-${engine}`, [{ role: 'Developer', project: 'default' }]);
      const dt: Target = { ...t, token: dev };
      assert.equal((await download(dt, contentOf('ro/model.onnx'))).sha256, sha(data));
    });

    describe('faults in stored bytes fail with the envelope code, never a silently wrong file', () => {
      let objects: string[] = [];
      const name = (i: number): string => `faults/m${i}.bin`;
      const datas: Buffer[] = [];
      before(async () => {
        const beforeSet = new Set(artifactFiles(s.dataDir).objects);
        for (let i = 0; i < 8; i++) {
          // Objects 0-3: four segments; 4-7: one (short) segment.
          const data = content(i < 4 ? 3 * MiB + 100 : 50_000);
          datas.push(data);
          used.push(data);
          const r = await upload(t, artifactPath('default', name(i)), data);
          assert.equal(r.status, 201);
          objects.push(artifactFiles(s.dataDir).objects.find((o) => !beforeSet.has(o) && !objects.includes(o)) ?? '');
        }
        objects = objects.map((o) => {
          assert.ok(o !== '');
          return o;
        });
      });
      const flip = (file: string, at: number): void => {
        const fd = openSync(file, 'r+');
        const b = Buffer.alloc(1);
        readSync(fd, b, 0, 1, at);
        b[0] = (b[0] ?? 0) ^ 0x01;
        writeSync(fd, b, 0, 1, at);
        closeSync(fd);
      };
      const swap = (file: string, i: number, j: number): void => {
        const buf = readFileSync(file);
        const len = 1 + MiB + 16;
        const a = Buffer.from(buf.subarray(segmentAt(i), segmentAt(i) + len));
        buf.subarray(segmentAt(j), segmentAt(j) + len).copy(buf, segmentAt(i));
        a.copy(buf, segmentAt(j));
        writeFileSync(file, buf);
      };

      test('a bit flipped in the first segment: ENVELOPE_AUTH_FAILED before any byte is sent', async () => {
        flip(objects[0] ?? '', segmentAt(0) + 500);
        const r = await download(t, contentOf(name(0)));
        assert.equal(r.status, 409);
        assert.equal(r.error?.code, 'ENVELOPE_AUTH_FAILED');
      });

      test('a bit flipped in a later segment: the transfer is cut short of Content-Length, never completed', async () => {
        flip(objects[1] ?? '', segmentAt(2) + 77);
        const r = await download(t, contentOf(name(1)));
        assert.equal(r.status, 200);
        assert.ok(r.broken !== undefined, 'the stream broke');
        assert.ok(r.bytes < datas[1]!.length, `${r.bytes} bytes of ${datas[1]!.length}`);
        assert.ok(r.bytes <= 2 * MiB, 'nothing of the bad segment or after it');
      });

      test('segments swapped: first pair fails up front, a later pair cuts the transfer', async () => {
        swap(objects[2] ?? '', 0, 1);
        const r = await download(t, contentOf(name(2)));
        assert.equal(r.status, 409);
        assert.equal(r.error?.code, 'ENVELOPE_AUTH_FAILED');
        swap(objects[3] ?? '', 1, 2);
        const later = await download(t, contentOf(name(3)));
        assert.ok(later.broken !== undefined);
        assert.ok(later.bytes <= MiB);
      });

      test("truncated, extended, another object's bytes, missing file: each its own code", async () => {
        const small = objects.slice(4);
        truncateSync(small[0] ?? '', readFileSync(small[0] ?? '').length - 10);
        assert.equal((await download(t, contentOf(name(4)))).error?.code, 'ENVELOPE_TRUNCATED');
        writeFileSync(small[1] ?? '', Buffer.concat([readFileSync(small[1] ?? ''), Buffer.from('tail')]));
        assert.equal((await download(t, contentOf(name(5)))).error?.code, 'ENVELOPE_TRAILING_DATA');
        writeFileSync(small[2] ?? '', readFileSync(small[3] ?? ''));
        assert.equal((await download(t, contentOf(name(6)))).error?.code, 'ENVELOPE_OBJECT_MISMATCH');
        rmSync(small[3] ?? '');
        const gone = await download(t, contentOf(name(7)));
        assert.equal(gone.status, 409);
        assert.equal(gone.error?.code, 'ARTIFACT_DATA_MISSING');
        const failed = await events(s, admin, 'artifact:Get');
        assert.ok(failed.some((e) => e.outcome === 'failed' && e.errorCode === 'ENVELOPE_TRUNCATED'));
      });
    });

    test('a recorded SHA-256 that does not match: a small object fails up front, a large one is cut before its last segment', async () => {
      const small = content(20_000);
      const large = content(2 * MiB + 5);
      used.push(small, large);
      for (const [n, d] of [
        ['digest/small.bin', small],
        ['digest/large.bin', large],
      ] as const) {
        assert.equal((await upload(t, artifactPath('default', n), d)).status, 201);
        // As if the row had been tampered with (or the bytes replaced by another valid encryption).
        await s.plane.services.store.db
          .updateTable('artifacts')
          .set({ sha256: sha(Buffer.from('other')) })
          .where('name', '=', n)
          .execute();
      }
      const a = await download(t, contentOf('digest/small.bin'));
      assert.equal(a.status, 409);
      assert.equal(a.error?.code, 'ENVELOPE_DIGEST_MISMATCH');
      const b = await download(t, contentOf('digest/large.bin'));
      assert.equal(b.status, 200);
      assert.ok(b.broken !== undefined, 'the stream broke');
      assert.ok(b.bytes <= 2 * MiB, `${b.bytes} bytes: the last segment was held back`);
    });

    test('key states come through: disabled key refuses upload and download until enabled; destroyed key is KEY_DESTROYED', async () => {
      const key = await s.call<{ id: string }>('POST', '/api/v1/projects/default/keys', { name: `art-${engine}` }, admin);
      assert.equal(key.status, 201, JSON.stringify(key.body));
      const data = content(200_000);
      used.push(data);
      const path = artifactPath('default', 'cmk/model.onnx');
      const put = await upload(t, `${path}?key=art-${engine}`, data);
      assert.equal(put.status, 201, JSON.stringify(put.body));
      assert.equal((put.body as unknown as View).keyId, key.body.id);

      assert.equal((await s.call('POST', `/api/v1/projects/default/keys/art-${engine}/disable`, undefined, admin)).status, 200);
      const off = await download(t, `${path}/content`);
      assert.equal(off.status, 409);
      assert.equal(off.error?.code, 'KEY_DISABLED');
      const objects = artifactFiles(s.dataDir).objects.length;
      const refused = await upload(t, `${artifactPath('default', 'cmk/other.onnx')}?key=art-${engine}`, data);
      assert.equal(refused.body.error?.code, 'KEY_DISABLED');
      await nothingStored('cmk/other.onnx', objects);
      assert.equal((await s.call('POST', `/api/v1/projects/default/keys/art-${engine}/enable`, undefined, admin)).status, 200);
      assert.equal((await download(t, `${path}/content`)).sha256, sha(data));

      const unknownKey = await upload(t, `${artifactPath('default', 'cmk/other.onnx')}?key=no-such-key`, data);
      assert.equal(unknownKey.body.error?.code, 'KEY_NOT_FOUND');

      assert.equal((await s.call('POST', `/api/v1/projects/default/keys/art-${engine}/schedule-deletion`, { days: 7 }, admin)).status, 200);
      assert.equal((await download(t, `${path}/content`)).error?.code, 'KEY_PENDING_DELETION');
      s.clock.advance(7 * DAY + 1);
      assert.equal(await s.plane.services.kms.destroyDue(), 1);
      // The frozen clock moved a week: sign in again.
      const login = await s.call<{ token: string }>('POST', '/api/v1/auth/login', {
        user: s.init.admin.name,
        password: s.init.admin.password,
        totp: s.code(s.init.admin.totpSecret),
      });
      admin = login.body.token;
      t = { ...t, token: admin };
      const shredded = await download(t, `${path}/content`);
      assert.equal(shredded.status, 410);
      assert.equal(shredded.error?.code, 'KEY_DESTROYED');
    });

    test('the sweep removes stale parts and objects without a row, and nothing that has one', async () => {
      const files = artifactFiles(s.dataDir);
      const orphan = 'cd'.padEnd(32, '1');
      mkdirSync(join(s.dataDir, 'artifacts', 'objects', 'cd'), { recursive: true });
      writeFileSync(join(s.dataDir, 'artifacts', 'objects', 'cd', orphan), 'no row points here');
      writeFileSync(join(s.dataDir, 'artifacts', 'tmp', `${'ef'.padEnd(32, '2')}.part`), 'left by a crash');
      assert.deepEqual(await s.plane.services.artifacts.sweep({ olderThanMs: 0, orphans: true }), { parts: 1, orphans: 1 });
      assert.deepEqual(artifactFiles(s.dataDir), files);
      assert.equal((await download(t, contentOf('models/blazeface/1.0.0.onnx'))).status, 200);
    });

    test('none of the plaintext used here appears anywhere in the data folder', () => {
      assert.ok(used.length > 10);
      for (const file of filesUnder(s.dataDir)) {
        const bytes = readFileSync(file);
        assert.equal(bytes.includes(MARKER), false, `${file} holds the marker text`);
        for (const data of used) {
          if (data.length < 256) continue;
          // Two 64-byte windows from each plaintext, away from the marker positions.
          for (const at of [100, data.length - 100]) {
            assert.equal(bytes.includes(data.subarray(at, at + 64)), false, `${file} holds plaintext`);
          }
        }
      }
    });
  });
}

describe('artifacts.maxObjectBytes is enforced while streaming', () => {
  let s: TestServer;
  let t: Target;
  before(async () => {
    s = await startTestServer({ config: { 'artifacts.maxObjectBytes': 100_000 } });
    t = { port: s.port, ca: s.ca, token: await s.adminToken() };
  });
  after(() => s.close());

  test('a declared Content-Length over the cap is refused before reading: BODY_TOO_LARGE', async () => {
    const r = await upload(t, artifactPath('default', 'big/declared.bin'), randomBytes(100_001));
    assert.equal(r.status, 413, JSON.stringify(r));
    assert.equal(r.body.error?.code, 'BODY_TOO_LARGE');
    assert.deepEqual(artifactFiles(s.dataDir), { objects: [], parts: [] });
  });

  test('a chunked body that grows past the cap is stopped there: BODY_TOO_LARGE, nothing stored, connection still usable', async () => {
    // One keep-alive connection for everything below: the refused body must not stall the next request.
    t = { ...t, agent: new Agent({ keepAlive: true, maxSockets: 1, ca: s.ca }) };
    const r = await upload(
      t,
      artifactPath('default', 'big/chunked.bin'),
      (function* () {
        for (let i = 0; i < 64; i++) yield randomBytes(16 * 1024);
      })(),
    );
    // The server stops storing at the cap and answers; the rest of the body is read and thrown away.
    assert.equal(r.status, 413, JSON.stringify(r));
    assert.equal(r.body.error?.code, 'BODY_TOO_LARGE');
    for (let i = 0; i < 50 && artifactFiles(s.dataDir).parts.length > 0; i++) await sleep(100);
    assert.deepEqual(artifactFiles(s.dataDir), { objects: [], parts: [] });
    const failed = await s.call<{ events: { event: { errorCode?: string } }[] }>(
      'GET',
      '/api/v1/audit/events?action=artifact:Put',
      undefined,
      t.token,
    );
    assert.ok(failed.body.events.some((e) => e.event.errorCode === 'BODY_TOO_LARGE'));
    const exact = await upload(t, artifactPath('default', 'big/exact.bin'), randomBytes(100_000));
    assert.equal(exact.status, 201, 'exactly the cap is fine');
    t.agent?.destroy();
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { base32Decode, totpCode } from '@sightline/core';
import { initDataDir, type InitResult } from '../src/init/init.js';
import { artifactFiles, artifactPath, blocks, download, upload, type Target } from './artifacts-transfer.js';
import { serve } from './serve-process.js';

const MiB = 1024 * 1024;

/** Peak resident set (VmHWM) of a process, bytes: the high-water mark, so no spike between samples is missed. */
function peakRss(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

function currentRss(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

async function login(port: number, ca: string, init: InitResult): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({
      user: init.admin.name,
      password: init.admin.password,
      totp: totpCode(base32Decode(init.admin.totpSecret), Date.now()),
    });
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        method: 'POST',
        path: '/api/v1/auth/login',
        ca,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(String((JSON.parse(text) as { token: string }).token)));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function started(
  nodeFlags: readonly string[] = [],
): Promise<{ dataDir: string; init: InitResult; ca: string; child: ChildProcess; t: Target }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-art-crash-'));
  const init = await initDataDir({ dataDir, port: 0, env: {} });
  const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  const { child, port } = await serve(dataDir, nodeFlags);
  return { dataDir, init, ca, child, t: { port, ca, token: await login(port, ca, init) } };
}

test('a 2 GiB artifact goes up and comes back in bounded server memory, flat in the size', { timeout: 300_000 }, async () => {
  // V8 sizes its young generation by itself, and Node 24's grows to about three times Node 20's (measured: +82 MiB of
  // garbage space in the first 256 MiB, flat after). Fixed at Node 20's 16 MiB semi-spaces, so that the bounds below
  // measure what the server keeps, not V8's version.
  const { dataDir, child, t } = await started(['--max-semi-space-size=16']);
  const pid = child.pid ?? 0;
  try {
    // Sign-in (Argon2id) is not what is measured: start the high-water mark afresh (Linux: clear_refs 5).
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const idle = currentRss(pid);
    const size = 2 * 1024 * MiB;
    const base = randomBytes(MiB);
    const sent = createHash('sha256');
    let early = 0;
    // Streamed from a generator: the test never holds more than a block either.
    const source = (function* () {
      let i = 0;
      for (const b of blocks(size, base)) {
        if (i++ === 256) early = peakRss(pid);
        sent.update(b);
        yield b;
      }
    })();
    const t0 = performance.now();
    const put = await upload(t, artifactPath('default', 'models/big.onnx'), source, { length: size });
    const t1 = performance.now();
    assert.equal(put.status, 201, JSON.stringify(put));
    const digest = sent.digest('hex');
    assert.equal(put.body['sha256'], digest);
    assert.equal(put.body['size'], size);
    const afterUpload = peakRss(pid);

    const got = await download(t, `${artifactPath('default', 'models/big.onnx')}/content`);
    const t2 = performance.now();
    assert.equal(got.status, 200);
    assert.equal(got.broken, undefined);
    assert.equal(got.bytes, size);
    assert.equal(got.sha256, digest);

    const peak = peakRss(pid);
    const mib = (n: number): number => Math.round(n / MiB);
    const rate = (ms: number): number => Math.round(size / MiB / (ms / 1000));
    console.log(
      `2 GiB: upload ${rate(t1 - t0)} MiB/s, download ${rate(t2 - t1)} MiB/s; server RSS idle ${mib(idle)} MiB, peak after 256 MiB ${mib(early)}, after upload ${mib(afterUpload)}, after download ${mib(peak)}`,
    );
    // DESIGN "Protocols and formats": streamed, memory does not grow with object size. The server idles
    // at ~160 MiB under tsx (its loader thread, the modules, V8's young generation); a transfer adds
    // V8 garbage (16 KiB TLS records, 64 KiB cipher outputs) that the GC frees on its own schedule.
    assert.ok(afterUpload - early < 24 * MiB, `RSS grew ${mib(afterUpload - early)} MiB between 256 MiB and 2 GiB uploaded`);
    // What a transfer costs over idle depends on the Node version (Node 20.20: 33-35 MiB, peak 213-216 MiB; Node 24.22:
    // 74-90 MiB, peak 238-258 MiB, with the semi-spaces fixed as above); the object is 2 GiB, so any buffering of it
    // would show far beyond either version's bounds.
    const [transferBound, peakBound] = Number(process.versions.node.split('.')[0]) >= 24 ? [128, 320] : [64, 256];
    assert.ok(peak - idle < transferBound * MiB, `a transfer took ${mib(peak - idle)} MiB over the idle server`);
    assert.ok(peak < peakBound * MiB, `server peak RSS ${mib(peak)} MiB`);
    const { objects } = artifactFiles(dataDir);
    assert.equal(objects.length, 1);
    assert.ok(statSync(objects[0] ?? '').size > size, 'ciphertext is stored');
  } finally {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test(
  'kill -9 during an upload: after restart there is no row, no object and no .part; committed artifacts are intact',
  { timeout: 300_000 },
  async () => {
    const first = await started();
    const { dataDir } = first;
    let { child, t } = first;
    try {
      const keep = randomBytes(3 * MiB);
      assert.equal((await upload(t, artifactPath('default', 'models/keep.onnx'), keep)).status, 201);

      const size = 1024 * MiB;
      const pending = upload(t, artifactPath('default', 'models/doomed.onnx'), blocks(size, randomBytes(MiB)), { length: size });
      // Kill once a good part of the upload is on disk.
      const part = (): number => {
        const p = artifactFiles(dataDir).parts[0];
        try {
          return p === undefined ? 0 : statSync(p).size;
        } catch {
          return 0;
        }
      };
      for (let i = 0; i < 300 && part() < 100 * MiB; i++) await sleep(20);
      assert.ok(part() >= 100 * MiB, 'the upload was under way');
      child.kill('SIGKILL');
      const cut = await pending;
      assert.ok(cut.transportError !== undefined || cut.status === 0, JSON.stringify(cut));
      assert.equal(artifactFiles(dataDir).parts.length, 1, 'the crash left a .part');

      // What a crash between commit and row would leave: an object nobody refers to.
      const orphan = 'ab'.padEnd(32, '0');
      mkdirSync(join(dataDir, 'artifacts', 'objects', 'ab'), { recursive: true });
      writeFileSync(join(dataDir, 'artifacts', 'objects', 'ab', orphan), 'orphan');

      await new Promise((r) => setTimeout(r, 100));
      const again = await serve(dataDir);
      child = again.child;
      // Sessions live in the database, so the token still works (a second login would replay the TOTP code).
      t = { ...t, port: again.port };

      const meta = await download(t, artifactPath('default', 'models/doomed.onnx'));
      assert.equal(meta.status, 404);
      assert.equal(meta.error?.code, 'ARTIFACT_NOT_FOUND');
      const files = artifactFiles(dataDir);
      assert.deepEqual(files.parts, [], 'the start-up sweep removed the part');
      assert.equal(files.objects.length, 1, 'only the committed artifact is left');
      assert.ok(!files.objects.some((o) => o.endsWith(orphan)), 'the orphan object is gone');
      const got = await download(t, `${artifactPath('default', 'models/keep.onnx')}/content`);
      assert.equal(got.sha256, createHash('sha256').update(keep).digest('hex'));
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

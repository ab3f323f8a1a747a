/**
 * Artifact upload and download through the real HTTPS API (TLS 1.3, the
 * control plane in its own process, a KMS data key, 1 MiB AES-256-GCM
 * segments and SHA-256 on the way), against, over the same file in the same run:
 *   - raw AES-256-GCM in Node: one createCipheriv stream, file in, bytes dropped (the yardstick);
 *   - SHA-256 alone in Node (the store must hash the plaintext);
 *   - Debian's `age` encrypting (and decrypting) the same file to an X25519 recipient;
 *   - a bare node:https server (same certificate and TLS policy, its own process) that drops uploads
 *     and serves the plain file: what the transport alone allows, with no store behind it.
 * Each figure is the best of `runs`, as MB/s (10^6 bytes/s) of wall time and of CPU time (all threads
 * of the process doing the work: the server for API and bare HTTPS, this process for Node's AES and
 * SHA-256, age itself), since wall time on a shared machine says as much about the neighbours.
 * Also the server's idle and peak RSS.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { base32Decode, totpCode } from '@sightline/core';
import { initDataDir, loadConfig } from '@sightline/server';
import { RootKey } from '../packages/server/src/keys/root-key.js';
import { loadServerMaterial } from '../packages/server/src/tls/server-material.js';
import { tlsOptions } from '../packages/server/src/tls/tls-options.js';
import { CLOCK_TICKS, cpuSecondsOf, statFields } from './lib/proc.js';

const MiB = 1024 * 1024;
const serveScript = fileURLToPath(new URL('./lib/serve.ts', import.meta.url));

/** A sink that drops what it is given (writing is not what is measured). */
const discard = (): Writable =>
  new Writable({
    highWaterMark: MiB,
    write: (_c, _e, cb) => cb(),
    writev: (_c, cb) => cb(),
  });

const selfCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface Sample {
  wall: number;
  cpu: number;
}

/** Runs `fn` `runs` times; CPU is read with `cpu` before and after (or returned by `fn` itself). */
async function measure(runs: number, cpu: () => number, fn: () => Promise<number | void> | number | void): Promise<Sample[]> {
  const out: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = cpu();
    const t0 = performance.now();
    const own = await fn();
    out.push({ wall: (performance.now() - t0) / 1000, cpu: typeof own === 'number' ? own : cpu() - c0 });
  }
  return out;
}

function serve(dataDir: string, bareFile?: string): Promise<{ child: ChildProcess; port: number; pid: number }> {
  return new Promise((resolve, reject) => {
    const child =
      bareFile === undefined
        ? spawn(process.execPath, ['--import', 'tsx', serveScript, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] })
        : fork(fileURLToPath(import.meta.url), ['--bare-https', dataDir, bareFile], {
            execArgv: ['--import', 'tsx'],
            stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
          });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+) (\d+)/.exec(out);
      if (m !== null) resolve({ child, port: Number(m[1]), pid: Number(m[2]) });
    });
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
}

const statusKb = (pid: number, field: 'VmHWM' | 'VmRSS'): number =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;

/** One PUT of `file` or one GET of `expect` bytes, the body dropped; throws on anything but 2xx. */
function transfer(
  agent: Agent,
  port: number,
  method: 'PUT' | 'GET',
  path: string,
  headers: Record<string, string>,
  file?: string,
  expect?: { bytes: number; sha256?: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, servername: 'localhost', method, path, headers }, (res) => {
      let n = 0;
      let text = '';
      res.on('data', (c: Buffer) => {
        n += c.length;
        if ((res.statusCode ?? 0) >= 300) text += c.toString();
      });
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        else if (expect !== undefined && n !== expect.bytes) reject(new Error(`${method} ${path}: ${n} of ${expect.bytes} bytes`));
        else if (expect?.sha256 !== undefined && res.headers['x-sightline-sha256'] !== expect.sha256)
          reject(new Error(`${method} ${path}: wrong digest`));
        else resolve();
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (file === undefined) req.end();
    else void pipeline(createReadStream(file, { highWaterMark: MiB }), req).catch(reject);
  });
}

function login(port: number, ca: string, user: string, password: string, totpSecret: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        method: 'POST',
        path: '/api/v1/auth/login',
        ca,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let t = '';
        res.on('data', (d: Buffer) => (t += d.toString()));
        res.on('end', () => resolve((JSON.parse(t) as { token: string }).token));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ user, password, totp: totpCode(base32Decode(totpSecret), Date.now()) }));
  });
}

export async function benchArtifacts(
  sizeMiB = Number(process.env['SIGHTLINE_BENCH_ARTIFACT_MIB'] ?? 512),
  runs = 3,
): Promise<Record<string, unknown>> {
  const size = sizeMiB * MiB;
  const work = mkdtempSync(join(tmpdir(), 'sightline-bench-art-'));
  const dataDir = join(work, 'data');
  const file = join(work, 'model.bin');
  const children: ChildProcess[] = [];
  try {
    // The same incompressible bytes for every contender.
    const fd = openSync(file, 'w');
    const block = Buffer.allocUnsafe(16 * MiB);
    for (let at = 0; at < size; at += block.length) writeSync(fd, randomFillSync(block), 0, Math.min(block.length, size - at));
    closeSync(fd);

    // Node's own AES-256-GCM and SHA-256, one stream each, this process, the same bytes.
    let digest = '';
    const aes = await measure(runs, selfCpu, () =>
      pipeline(createReadStream(file), createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12)), discard()),
    );
    const aesDec = await measure(runs, selfCpu, async () => {
      const d = createDecipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
      // No tag to verify against: only the speed counts.
      await pipeline(createReadStream(file), d, discard()).catch(() => undefined);
    });
    const sha = await measure(runs, selfCpu, async () => {
      const h = createHash('sha256');
      await pipeline(createReadStream(file), new Writable({ write: (c: Buffer, _e, cb) => (h.update(c), cb()) }));
      digest = h.digest('hex');
    });

    // Debian's age to an X25519 recipient; its CPU is read off the shell that waited for it.
    const keyFile = join(work, 'age-key.txt');
    const ageFile = join(work, 'model.bin.age');
    spawnSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
    const recipient = spawnSync('age-keygen', ['-y', keyFile], { encoding: 'utf8' }).stdout.trim();
    const ageRun = (args: string[]): number => {
      const r = spawnSync('sh', ['-c', 'age "$@" && cat /proc/$$/stat', 'sh', ...args], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`age ${args[0] ?? ''} failed: ${r.stderr}`);
      const f = statFields(r.stdout);
      return (Number(f[13]) + Number(f[14])) / CLOCK_TICKS; // cutime + cstime: age's own CPU
    };
    const ageEnc = await measure(
      runs,
      () => 0,
      () => ageRun(['-r', recipient, '-o', ageFile, file]),
    );
    const ageDec = await measure(
      runs,
      () => 0,
      () => ageRun(['-d', '-i', keyFile, '-o', '/dev/null', ageFile]),
    );
    rmSync(ageFile, { force: true });

    const init = await initDataDir({ dataDir, port: 0, env: {} });
    const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');

    // The transport alone: same TLS, nothing behind it.
    const bare = await serve(dataDir, file);
    children.push(bare.child);
    const bareAgent = new Agent({ keepAlive: true, ca, minVersion: 'TLSv1.3' });
    const bareUp = await measure(
      runs,
      () => cpuSecondsOf(bare.pid),
      () => transfer(bareAgent, bare.port, 'PUT', '/', {}, file),
    );
    const bareDown = await measure(
      runs,
      () => cpuSecondsOf(bare.pid),
      () => transfer(bareAgent, bare.port, 'GET', '/', {}, undefined, { bytes: size }),
    );
    bareAgent.destroy();
    bare.child.kill('SIGKILL');

    // The control plane.
    const server = await serve(dataDir);
    children.push(server.child);
    const token = await login(server.port, ca, init.admin.name, init.admin.password, init.admin.totpSecret);
    // Sign-in (Argon2id) is not what is measured: restart the high-water mark (Linux clear_refs 5).
    try {
      writeSync(openSync(`/proc/${server.pid}/clear_refs`, 'w'), '5');
    } catch {
      // Not permitted here: the peak then includes the sign-in.
    }
    const idleRss = statusKb(server.pid, 'VmRSS');
    const agent = new Agent({ keepAlive: true, ca, minVersion: 'TLSv1.3' });
    const path = '/api/v1/projects/default/artifacts/bench/model.bin';
    const auth = { authorization: `Bearer ${token}` };
    const up = await measure(
      runs,
      () => cpuSecondsOf(server.pid),
      () =>
        transfer(
          agent,
          server.port,
          'PUT',
          `${path}?overwrite=true`,
          { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(size), 'x-sightline-sha256': digest },
          file,
        ),
    );
    const down = await measure(
      runs,
      () => cpuSecondsOf(server.pid),
      () => transfer(agent, server.port, 'GET', `${path}/content`, auth, undefined, { bytes: size, sha256: digest }),
    );
    agent.destroy();
    const peakRss = statusKb(server.pid, 'VmHWM');

    const mb = size / 1e6;
    const wall = (s: Sample[]): number => Math.round(mb / Math.min(...s.map((x) => x.wall)));
    const cpu = (s: Sample[]): number => Math.round(mb / Math.min(...s.map((x) => x.cpu)));
    const ratio = (a: number, b: number): number => Number((a / b).toFixed(3));
    return {
      bench: 'artifacts',
      sizeMiB,
      runs,
      cpus: Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()),
      uploadMBps: wall(up),
      downloadMBps: wall(down),
      rawAesGcmMBps: wall(aes),
      rawAesGcmDecryptMBps: wall(aesDec),
      sha256MBps: wall(sha),
      ageEncryptMBps: wall(ageEnc),
      ageDecryptMBps: wall(ageDec),
      bareHttpsUploadMBps: wall(bareUp),
      bareHttpsDownloadMBps: wall(bareDown),
      uploadVsRawAes: ratio(wall(up), wall(aes)),
      downloadVsRawAesDecrypt: ratio(wall(down), wall(aesDec)),
      uploadVsAge: ratio(wall(up), wall(ageEnc)),
      downloadVsAgeDecrypt: ratio(wall(down), wall(ageDec)),
      uploadVsBareHttps: ratio(wall(up), wall(bareUp)),
      downloadVsBareHttps: ratio(wall(down), wall(bareDown)),
      cpu: {
        uploadMBps: cpu(up),
        downloadMBps: cpu(down),
        rawAesGcmMBps: cpu(aes),
        rawAesGcmDecryptMBps: cpu(aesDec),
        sha256MBps: cpu(sha),
        ageEncryptMBps: cpu(ageEnc),
        ageDecryptMBps: cpu(ageDec),
        bareHttpsUploadMBps: cpu(bareUp),
        bareHttpsDownloadMBps: cpu(bareDown),
        uploadVsRawAes: ratio(cpu(up), cpu(aes)),
        uploadVsBareHttps: ratio(cpu(up), cpu(bareUp)),
        downloadVsBareHttps: ratio(cpu(down), cpu(bareDown)),
      },
      serverIdleRssMiB: Math.round(idleRss / MiB),
      serverPeakRssMiB: Math.round(peakRss / MiB),
      target: 'upload >= 0.7 x raw AES-GCM (wall)',
    };
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

/** Child mode: the bare HTTPS server, with the control plane's certificate and TLS policy. */
if (process.argv[2] === '--bare-https') {
  const [dataDir, file] = [process.argv[3] ?? '', process.argv[4] ?? ''];
  const material = loadServerMaterial(loadConfig(dataDir, {}, {}), RootKey.open(dataDir));
  const server = createServer(tlsOptions({ minVersion: '1.2', fips: false }, material), (req, res) => {
    if (req.method === 'PUT') {
      pipeline(req, discard()).then(
        () => res.end(),
        () => res.destroy(),
      );
    } else {
      res.setHeader('content-type', 'application/octet-stream');
      void pipeline(createReadStream(file, { highWaterMark: MiB }), res).catch(() => undefined);
    }
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port} ${process.pid}\n`));
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startTestServer, type TestServer } from './harness.js';
import { cipherList, tlsOptions } from '../src/tls/tls-options.js';

/**
 * Runs a real `openssl s_client` handshake (asynchronously: the server under
 * test lives in this process); returns the negotiated protocol, or undefined
 * when the handshake was refused.
 */
async function handshake(port: number, caFile: string, args: string[]): Promise<{ protocol: string | undefined; cipher: string | undefined; output: string }> {
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', caFile, '-brief', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise((resolve) => child.on('close', resolve));
  return {
    protocol: /Protocol version: (\S+)/.exec(output)?.[1],
    cipher: /Ciphersuite: (\S+)/.exec(output)?.[1],
    output,
  };
}

let s: TestServer;
let strict: TestServer;
before(async () => {
  s = await startTestServer();
  strict = await startTestServer({ config: { 'tls.minVersion': '1.3' } });
});
after(async () => {
  await s.close();
  await strict.close();
});

const caFile = (t: TestServer) => `${t.dataDir}/ca.pem`;

test('TLS 1.3 is accepted and preferred', async () => {
  const r = await handshake(s.port, caFile(s), []);
  assert.equal(r.protocol, 'TLSv1.3', r.output);
  assert.match(r.output, /Verification: OK/);
});

test('TLS 1.2 is accepted with a forward-secret AEAD suite', async () => {
  const r = await handshake(s.port, caFile(s), ['-tls1_2']);
  assert.equal(r.protocol, 'TLSv1.2', r.output);
  assert.match(r.cipher ?? '', /^ECDHE-ECDSA-(AES\d+-GCM|CHACHA20-POLY1305)/);
});

test('TLS 1.1 and 1.0 are refused', async () => {
  // SECLEVEL=0 lets this OpenSSL client offer the old versions at all, so the refusal is the server's.
  for (const v of ['-tls1_1', '-tls1']) {
    const r = await handshake(s.port, caFile(s), [v, '-cipher', 'DEFAULT:@SECLEVEL=0']);
    assert.equal(r.protocol, undefined, r.output);
    assert.match(r.output, /alert protocol version|unsupported protocol|no protocols available|wrong version/i);
  }
});

test('a CBC (non-AEAD) or non-forward-secret TLS 1.2 suite is refused', async () => {
  for (const cipher of ['ECDHE-ECDSA-AES128-SHA256', 'AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-SHA']) {
    const r = await handshake(s.port, caFile(s), ['-tls1_2', '-cipher', cipher]);
    assert.equal(r.protocol, undefined, `${cipher}: ${r.output}`);
  }
});

test('tls.minVersion 1.3 refuses TLS 1.2', async () => {
  assert.equal((await handshake(strict.port, caFile(strict), ['-tls1_2'])).protocol, undefined);
  assert.equal((await handshake(strict.port, caFile(strict), [])).protocol, 'TLSv1.3');
});

test('every response carries HSTS and the security headers', async () => {
  for (const path of ['/api/v1/health', '/api/v1/nope', '/api/v1/users']) {
    const r = await s.call('GET', path);
    assert.match(String(r.headers['strict-transport-security']), /^max-age=31536000; includeSubDomains$/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
  }
});

test('FIPS mode: turned on and MD5 refused where the provider exists, else FIPS_UNAVAILABLE', async () => {
  // In a child process, so this test process keeps its own crypto settings.
  const script = [
    "import { enableFipsOrThrow } from './packages/server/src/tls/tls-options.ts';",
    "import { createHash, getFips } from 'node:crypto';",
    'try { enableFipsOrThrow(); } catch (e) { console.log(JSON.stringify({ refused: e.code, message: e.message })); process.exit(0); }',
    "let md5 = 'allowed'; try { createHash('md5').update('x').digest(); } catch { md5 = 'refused'; }",
    'console.log(JSON.stringify({ fips: getFips(), md5 }));',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('close', resolve));
  const result = JSON.parse(out.trim()) as { refused?: string; message?: string; fips?: number; md5?: string };
  if (result.refused !== undefined) {
    assert.equal(result.refused, 'FIPS_UNAVAILABLE');
    assert.match(result.message ?? '', /no OpenSSL FIPS provider/);
  } else {
    assert.equal(result.fips, 1);
    assert.equal(result.md5, 'refused', 'FIPS mode must refuse non-approved algorithms');
  }
});

test('FIPS cipher policy drops ChaCha20 and X25519', () => {
  const list = cipherList({ minVersion: '1.2', fips: true });
  assert.ok(!list.includes('CHACHA20'));
  assert.ok(list.includes('TLS_AES_256_GCM_SHA384'));
  assert.equal(tlsOptions({ minVersion: '1.2', fips: true }, { cert: '', key: '' }).ecdhCurve, 'P-256:P-384');
  assert.ok(cipherList({ minVersion: '1.2', fips: false }).includes('CHACHA20'));
  assert.ok(!cipherList({ minVersion: '1.3', fips: false }).includes('ECDHE-'));
});

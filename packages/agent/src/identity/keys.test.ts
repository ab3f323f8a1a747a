import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issue, readCsr } from '../../test/helpers/pki.js';
import { AgentError } from '../errors.js';
import { generateDeviceKey, keyPem, renewAt, verifyIssuedCertificate } from './keys.js';
import { webcrypto } from 'node:crypto';

test('the CSR names the device in CN, is self-signed by a fresh P-256 key, and carries no private key', async () => {
  const k = await generateDeviceKey('cam-01');
  const csr = await readCsr(k.csrPem);
  assert.equal(csr.valid, true);
  assert.equal(csr.cn, 'cam-01');
  assert.equal(csr.curve, 'P-256');
  assert.doesNotMatch(k.csrPem, /PRIVATE KEY/);
  const other = await generateDeviceKey('cam-01');
  assert.notDeepEqual(other.keyPkcs8, k.keyPkcs8, 'a new key pair every time');
});

test('a device name with DN syntax stays one CN value (no attribute injection)', async () => {
  const csr = await readCsr((await generateDeviceKey('cam,O=Evil')).csrPem);
  assert.equal(csr.cn, 'cam,O=Evil');
});

async function importPub(pkcs8: Buffer): Promise<webcrypto.CryptoKey> {
  const priv = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
  const jwk = await webcrypto.subtle.exportKey('jwk', priv);
  delete jwk.d;
  jwk.key_ops = ['verify'];
  return webcrypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
}

test('an issued certificate is accepted only for our key, our name, our CA, and now', async () => {
  const ca = await createCa();
  const otherCa = await createCa('Other CA');
  const k = await generateDeviceKey('cam-01');
  const pub = await importPub(k.keyPkcs8);
  const good = await issue(ca, { commonName: 'cam-01', usage: 'client', publicKey: pub });
  const now = Date.now();
  assert.equal(verifyIssuedCertificate(good.certPem, k.keyPkcs8, ca.certPem, 'cam-01', now).commonName, 'cam-01');

  const bad = (certPem: string, caPem = ca.certPem): void =>
    assert.throws(
      () => verifyIssuedCertificate(certPem, k.keyPkcs8, caPem, 'cam-01', now),
      (e: unknown) => e instanceof AgentError && e.code === 'RESPONSE_INVALID',
    );
  bad((await issue(ca, { commonName: 'cam-02', usage: 'client', publicKey: pub })).certPem);
  bad((await issue(ca, { commonName: 'cam-01', usage: 'client' })).certPem); // someone else's key
  bad((await issue(otherCa, { commonName: 'cam-01', usage: 'client', publicKey: pub })).certPem);
  bad(good.certPem, otherCa.certPem);
  bad(
    (
      await issue(ca, {
        commonName: 'cam-01',
        usage: 'client',
        publicKey: pub,
        notBefore: new Date(now - 7200_000),
        notAfter: new Date(now - 3600_000),
      })
    ).certPem,
  );
  bad('not a certificate');
  assert.match(keyPem(k.keyPkcs8), /^-----BEGIN PRIVATE KEY-----\n/);
});

test('renewal falls due at two thirds of the certificate life', async () => {
  const ca = await createCa();
  const start = Date.parse('2030-01-01T00:00:00Z');
  const leaf = await issue(ca, {
    commonName: 'cam-01',
    usage: 'client',
    notBefore: new Date(start),
    notAfter: new Date(start + 30 * 86_400_000),
  });
  assert.equal(renewAt(leaf.certPem), start + 20 * 86_400_000);
});

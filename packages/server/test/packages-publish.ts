import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Decrypter } from 'age-encryption';
import type { KeyObject } from 'node:crypto';
import { generatePackageSigningKey, loadPackageSigningKey, signPackageManifest } from '@sightline/core';
import { deviceApi, type appsApi } from '@sightline/protocol';
import { deviceCall, keyAndCsr } from './device-client.js';
import type { TestServer } from './harness.js';
import { privacyBlurManifest } from '../../protocol/src/api/app-manifest.fixture.js';

/** A publisher's key pair, as `sightline signing-key create` makes one. */
export function publisherKey(): { key: KeyObject; publicKey: string; keyId: string } {
  const k = generatePackageSigningKey();
  return { key: loadPackageSigningKey(k.privateKeyPem), publicKey: k.publicKeyRaw.toString('base64'), keyId: k.keyId };
}

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** Uploads a file's bytes through the artifact API as the content-addressed blob packages/blobs/<sha256>. */
export async function uploadBlob(s: TestServer, token: string, content: string): Promise<appsApi.PackageFile & { content: string }> {
  const digest = sha256(content);
  const res = await s.call('PUT', `/api/v1/projects/default/artifacts/packages/blobs/${digest}`, content, token, {
    'content-type': 'application/octet-stream',
  });
  assert.ok(res.status === 201 || res.status === 409, `blob upload: ${res.status} ${JSON.stringify(res.body)}`);
  return { path: 'x', bytes: Buffer.byteLength(content), sha256: digest, content };
}

export function codeDescriptor(name: string, version: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    version,
    entry: 'src/index.ts',
    resources: { memoryMiB: 128, cpuShare: 0.5, diskMiB: 16 },
    inputs: { video_in: { type: 'video' } },
    outputs: { video_out: { type: 'video' } },
    models: { face: { package: 'blazeface' } },
    parameters: {
      threshold: { type: 'number', default: 0.75, min: 0, max: 1, overridable: true },
      tile: { type: 'boolean', default: false },
    },
    ...extra,
  };
}

export function modelDescriptor(name: string, version: string): Record<string, unknown> {
  return {
    name,
    version,
    file: 'model.onnx',
    input: { name: 'input', shape: [1, 256, 256, 3], layout: 'NHWC' },
    outputs: ['boxes', 'scores'],
  };
}

export interface Built {
  manifestB64: string;
  signature: appsApi.PackageSignature;
  files: (appsApi.PackageFile & { content: string })[];
}

/** Uploads the files, writes and signs the manifest (the request body of POST /packages). */
export async function buildPackage(
  s: TestServer,
  token: string,
  signer: KeyObject,
  kind: 'code' | 'model',
  name: string,
  version: string,
  files: Record<string, string>,
  descriptor = kind === 'code' ? codeDescriptor(name, version) : modelDescriptor(name, version),
): Promise<Built> {
  const uploaded = [];
  for (const [path, content] of Object.entries(files)) uploaded.push({ ...(await uploadBlob(s, token, content)), path });
  const manifest = {
    v: 1,
    kind,
    name,
    version,
    descriptor,
    files: uploaded.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })),
    createdAt: new Date().toISOString(),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2));
  return { manifestB64: bytes.toString('base64'), signature: signPackageManifest(bytes, signer), files: uploaded };
}

export async function push(s: TestServer, token: string, built: Pick<Built, 'manifestB64' | 'signature'>) {
  return s.call<{
    package: { name: string; version: string; keyId: string; signer: string | null; bytes: number };
    error: { code: string; details?: { path?: string } };
  }>('POST', '/api/v1/projects/default/packages', { manifestB64: built.manifestB64, signature: built.signature }, token);
}

export interface RegisteredDevice {
  name: string;
  caPem: string;
  identity: { cert: string; key: string };
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: T }>;
}

/** Provisions a device through the API and registers it over mTLS, as the agent does. */
export async function registerDevice(s: TestServer, admin: string, name: string): Promise<RegisteredDevice> {
  const prov = await s.call<{ archive: string; passphrase: string }>('POST', '/api/v1/projects/default/devices', { name }, admin);
  assert.equal(prov.status, 201, JSON.stringify(prov.body));
  const d = new Decrypter();
  d.addPassphrase(prov.body.passphrase);
  const a = deviceApi.provisioningArchive.parse(JSON.parse(await d.decrypt(Buffer.from(prov.body.archive, 'base64'), 'text')));
  const { csrPem, keyPem } = await keyAndCsr(name);
  const reg = await deviceCall<{ certPem: string }>(
    s.port,
    a.caPem,
    { cert: a.provisioning.certPem, key: a.provisioning.keyPem },
    'POST',
    '/device/v1/register',
    {
      csrPem,
    },
  );
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  const identity = { cert: reg.body.certPem, key: keyPem };
  return {
    name,
    caPem: a.caPem,
    identity,
    call: (method, path, body, headers) => deviceCall(s.port, a.caPem, identity, method, path, body, headers),
  };
}

/**
 * What output-preview tests start from: privacy-blur and its model published
 * (stand-in files), a camera, `device` registered, the app deployed to it and
 * reported running by the test's device.
 */
export async function runningPrivacyBlur(
  s: TestServer,
  admin: string,
  device: string,
): Promise<{ edge: RegisteredDevice; instanceId: string }> {
  const base = '/api/v1/projects/default';
  const key = publisherKey();
  assert.equal(
    (await push(s, admin, await buildPackage(s, admin, key.key, 'code', 'privacy-blur', '0.1.0', { 'app.js': '"blur"' }))).status,
    201,
  );
  assert.equal(
    (await push(s, admin, await buildPackage(s, admin, key.key, 'model', 'blazeface', '1.0.0', { 'model.onnx': '"onnx"' }))).status,
    201,
  );
  assert.equal((await s.call('POST', `${base}/cameras`, { name: 'door', url: 'rtsps://cam.example/door' }, admin)).status, 201);
  const edge = await registerDevice(s, admin, device);
  const dep = await s.call<{ app: { instanceId: string } }>(
    'POST',
    `${base}/apps`,
    { manifest: privacyBlurManifest(0.75), device, overrides: { cameras: { camera: 'door' } } },
    admin,
  );
  assert.equal(dep.status, 201, JSON.stringify(dep.body));
  const instanceId = dep.body.app.instanceId;
  for (const stage of ['downloading', 'verifying', 'starting', 'running'] as const) {
    const report: appsApi.AppStatusReport = { revision: 1, stage };
    assert.equal((await edge.call('POST', `/device/v1/apps/${instanceId}/status`, report)).status, 204);
  }
  return { edge, instanceId };
}

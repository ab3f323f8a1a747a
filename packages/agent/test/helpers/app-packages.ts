import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { signPackageManifest } from '@sightline/core';
import type { appsApi } from '@sightline/protocol';
import { bundleApp } from '@sightline/sdk/build';
import type { FakeControlPlane } from './fake-control-plane.js';

export const EXAMPLE_DIR = join(import.meta.dirname, '../../../../examples/privacy-blur');
export const MODEL_FILE = 'face_detection_back_256x256_barracuda.onnx';
export const PAN_MESSI = join(import.meta.dirname, '../fixtures/video/pan-messi.mp4');

/** examples/privacy-blur's code descriptor, as a package manifest carries it. */
export function exampleDescriptor(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(EXAMPLE_DIR, 'descriptor.json'), 'utf8')) as Record<string, unknown>;
}

/** The SHA-256 of a package's first file (its blob name). */
export function firstBlob(ref: appsApi.PackageRef): string {
  return (JSON.parse(Buffer.from(ref.manifestB64, 'base64').toString('utf8')) as appsApi.PackageManifest).files[0]?.sha256 ?? '';
}

/** A signed package whose files the fake control plane serves as blobs, as `sightline package push` would leave it. */
export function signedPackage(
  cp: FakeControlPlane,
  key: KeyObject,
  p: { kind: appsApi.PackageKind; name: string; version: string; descriptor: Record<string, unknown>; files: Record<string, Buffer> },
): appsApi.PackageRef {
  const files = Object.entries(p.files).map(([path, bytes]) => ({ path, bytes: bytes.length, sha256: cp.putBlob(bytes) }));
  const manifest = {
    v: 1,
    kind: p.kind,
    name: p.name,
    version: p.version,
    descriptor: p.descriptor,
    files,
    createdAt: new Date().toISOString(),
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  return {
    kind: p.kind,
    name: p.name,
    version: p.version,
    manifestB64: bytes.toString('base64'),
    signature: signPackageManifest(bytes, key),
  };
}

/** examples/privacy-blur bundled (app.mjs) with its descriptor, and BlazeFace as a model package. */
export async function privacyBlurPackages(
  cp: FakeControlPlane,
  key: KeyObject,
  outDir: string,
): Promise<{ code: appsApi.PackageRef; model: appsApi.PackageRef; bundle: Buffer; onnx: Buffer }> {
  const built = await bundleApp(EXAMPLE_DIR, outDir);
  const bundle = readFileSync(built.outFile);
  const code = signedPackage(cp, key, {
    kind: 'code',
    name: 'privacy-blur',
    version: '0.1.0',
    descriptor: exampleDescriptor(),
    files: { 'app.mjs': bundle },
  });
  const onnx = readFileSync(join(EXAMPLE_DIR, 'model', MODEL_FILE));
  const model = signedPackage(cp, key, {
    kind: 'model',
    name: 'blazeface-back-256',
    version: '1.2.0',
    descriptor: {
      name: 'blazeface-back-256',
      version: '1.2.0',
      file: MODEL_FILE,
      // BlazeFace takes [-1, 1]: (v/255 - 0.5) / 0.5.
      input: { name: 'input:0', shape: [1, 256, 256, 3], layout: 'NHWC', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
      outputs: ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0'],
    },
    files: { [MODEL_FILE]: onnx },
  });
  return { code, model, bundle, onnx };
}

/** The privacy-blur graph: camera → blur ⇄ face → out. */
export function privacyBlurApp(
  o: { instanceId: string; revision: number; code: appsApi.PackageRef; model: appsApi.PackageRef } & Omit<
    Partial<appsApi.DesiredApp>,
    'code' | 'models'
  >,
): appsApi.DesiredApp {
  const { code, model, ...rest } = o;
  return {
    app: 'privacy-blur-door',
    manifestSha256: 'a'.repeat(64),
    code: [{ node: 'blur', package: code }],
    models: [{ node: 'face', package: model }],
    cameras: [{ node: 'camera', cameraId: 'cam_1', camera: 'door', url: `file://${PAN_MESSI}`, hasCredentials: false, paused: false }],
    outputs: ['out'],
    edges: [
      { from: 'camera', to: 'blur.video_in' },
      { from: 'face', to: 'blur.face' },
      { from: 'threshold', to: 'blur.threshold' },
      { from: 'blur.video_out', to: 'out' },
    ],
    parameters: { blur: { threshold: 0.75 } },
    trustedKeyIds: [],
    stageTimeoutsSeconds: { downloading: 600, verifying: 120, starting: 120 },
    ...rest,
  };
}

import { verifyPackageManifest } from '@sightline/core';
import { appsApi } from '@sightline/protocol';
import { appDescriptorSchema, type AppDescriptor } from '@sightline/sdk';
import { AppError } from './errors.js';

export type PackageRef = appsApi.PackageRef;
export type PackageManifest = appsApi.PackageManifest;

/** A package whose signature verified: the parsed manifest of exactly the signed bytes. */
export interface VerifiedPackage {
  readonly ref: PackageRef;
  readonly manifest: PackageManifest;
  /** The signer's key id. */
  readonly keyId: string;
}

function issueText(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const i = issues[0];
  if (i === undefined) return 'invalid';
  return `${i.path.length === 0 ? '(root)' : i.path.map(String).join('.')}: ${i.message}`;
}

/**
 * Checks a package reference before a byte of it is downloaded: the Ed25519
 * signature over the manifest's exact bytes first (issue 6; a failure throws
 * PACKAGE_SIGNATURE_INVALID or, for a key the project does not list,
 * PACKAGE_SIGNER_UNTRUSTED), then the manifest's schema, then that it is the
 * package the deployment named (a validly signed manifest of another package
 * or version must not stand in for it).
 */
export function verifyPackageRef(ref: PackageRef, trustedKeyIds: readonly string[]): VerifiedPackage {
  const bytes = Buffer.from(ref.manifestB64, 'base64');
  const keyId = verifyPackageManifest(bytes, ref.signature, trustedKeyIds);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new AppError('PACKAGE_MANIFEST_INVALID', `The manifest of ${ref.name}@${ref.version} is not JSON.`, { cause: err });
  }
  const parsed = appsApi.packageManifest.safeParse(json);
  if (!parsed.success) {
    throw new AppError(
      'PACKAGE_MANIFEST_INVALID',
      `The manifest of ${ref.name}@${ref.version} is invalid (${issueText(parsed.error.issues)}).`,
    );
  }
  const m = parsed.data;
  if (m.kind !== ref.kind || m.name !== ref.name || m.version !== ref.version) {
    throw new AppError(
      'PACKAGE_MANIFEST_INVALID',
      `The signed manifest is for ${m.kind} package ${m.name}@${m.version}, not the ${ref.kind} package ${ref.name}@${ref.version} the deployment names.`,
    );
  }
  const paths = new Set<string>();
  for (const f of m.files) {
    if (paths.has(f.path)) throw new AppError('PACKAGE_MANIFEST_INVALID', `The manifest of ${ref.name} lists ${f.path} twice.`);
    paths.add(f.path);
  }
  return { ref, manifest: m, keyId };
}

/** The bundle a built code package runs (`sightline package build` writes app.mjs). */
export const BUNDLE_FILE = 'app.mjs';

/** The code descriptor of a verified code package, and the file the app process runs. */
export function codeDescriptor(p: VerifiedPackage): { descriptor: AppDescriptor; entry: string } {
  const parsed = appDescriptorSchema.safeParse(p.manifest.descriptor);
  if (!parsed.success) {
    throw new AppError(
      'PACKAGE_DESCRIPTOR_INVALID',
      `The descriptor of code package ${p.ref.name}@${p.ref.version} is invalid (${issueText(parsed.error.issues)}).`,
    );
  }
  const files = new Set(p.manifest.files.map((f) => f.path));
  // The descriptor names the source entry; the built package carries the bundle.
  const entry = /\.(mjs|js)$/.test(parsed.data.entry) && files.has(parsed.data.entry) ? parsed.data.entry : BUNDLE_FILE;
  if (!files.has(entry)) {
    throw new AppError('PACKAGE_DESCRIPTOR_INVALID', `Code package ${p.ref.name}@${p.ref.version} has no ${entry} to run.`);
  }
  return { descriptor: parsed.data, entry };
}

/** The model descriptor of a verified model package; its ONNX file must be one of the signed files. */
export function modelDescriptor(p: VerifiedPackage): { descriptor: appsApi.ModelDescriptor; sha256: string } {
  const parsed = appsApi.modelDescriptor.safeParse(p.manifest.descriptor);
  if (!parsed.success) {
    throw new AppError(
      'PACKAGE_DESCRIPTOR_INVALID',
      `The descriptor of model package ${p.ref.name}@${p.ref.version} is invalid (${issueText(parsed.error.issues)}).`,
    );
  }
  const file = p.manifest.files.find((f) => f.path === parsed.data.file);
  if (file === undefined) {
    throw new AppError('PACKAGE_DESCRIPTOR_INVALID', `Model package ${p.ref.name}@${p.ref.version} does not contain ${parsed.data.file}.`);
  }
  return { descriptor: parsed.data, sha256: file.sha256 };
}

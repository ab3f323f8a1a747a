import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import { AgentError } from '../errors.js';

/** The signed manifest's file name at the top of the agent's folder; it does not list itself. */
export const MANIFEST_FILE = 'integrity-manifest.json';
/** Domain separation for the signature (as DSSE's PAE): a manifest signature can be nothing else. */
const SIGNING_CONTEXT = 'sightline-agent-manifest/v1\n';
const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
const MAX_FILES = 100_000;

export const manifestPayload = z
  .object({
    v: z.literal(1),
    name: z.string().max(214),
    version: z.string().max(64),
    createdAt: z.string(),
    /** Relative POSIX path → SHA-256 hex of the file's bytes. */
    files: z.record(z.string().max(4096), z.string().regex(/^[0-9a-f]{64}$/)),
  })
  .strict();
export type ManifestPayload = z.infer<typeof manifestPayload>;

const signedManifest = z
  .object({
    /** The payload JSON, base64: the exact bytes that were signed. */
    payload: z.string().max(MAX_MANIFEST_BYTES),
    signatures: z
      .array(z.object({ keyId: z.string().regex(/^[0-9a-f]{64}$/), sig: z.string().max(200) }).strict())
      .min(1)
      .max(8),
  })
  .strict();
export type SignedManifest = z.infer<typeof signedManifest>;

/** Key id: SHA-256 of the raw 32-byte Ed25519 public key (RFC 8410 SPKI minus its 12-byte prefix). */
export function keyId(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256')
    .update(spki.subarray(spki.length - 32))
    .digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export type TreeEntry = { kind: 'file'; sha256: string } | { kind: 'other' };

/** Every entry under `root` except the manifest itself, by relative POSIX path. Symlinks and devices are listed as `other`. */
export async function walkTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const visit = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const full = join(dir, name);
      const rel = relative(root, full).split(sep).join('/');
      if (rel === MANIFEST_FILE) continue;
      const st = await lstat(full);
      if (st.isDirectory()) await visit(full);
      else if (st.isFile()) out.set(rel, { kind: 'file', sha256: await sha256File(full) });
      else out.set(rel, { kind: 'other' });
      if (out.size > MAX_FILES) throw new AgentError('INTEGRITY_MANIFEST_INVALID', `More than ${MAX_FILES} files under ${root}.`);
    }
  };
  await visit(root);
  return out;
}

/** Lists the agent's installed files with their SHA-256 (release tooling and tests). */
export async function buildManifest(root: string, meta: { name: string; version: string; createdAt: Date }): Promise<ManifestPayload> {
  const files: Record<string, string> = {};
  for (const [path, entry] of await walkTree(root)) {
    if (entry.kind !== 'file')
      throw new AgentError('INTEGRITY_MANIFEST_INVALID', `${path} is not a regular file; a release holds regular files only.`);
    files[path] = entry.sha256;
  }
  return { v: 1, name: meta.name, version: meta.version, createdAt: meta.createdAt.toISOString(), files };
}

/** Signs a manifest with the release key (Ed25519, RFC 8032). */
export function signManifest(payload: ManifestPayload, privateKey: KeyObject): SignedManifest {
  const bytes = Buffer.from(JSON.stringify(payload), 'utf8');
  const publicKey = createPublicKey(privateKey);
  const sig = sign(null, Buffer.concat([Buffer.from(SIGNING_CONTEXT), bytes]), privateKey);
  return { payload: bytes.toString('base64'), signatures: [{ keyId: keyId(publicKey), sig: sig.toString('base64') }] };
}

/**
 * Opens a signed manifest (sigstore-js style: one straight line of checks
 * that each throw). Returns the payload only if a trusted key signed it.
 */
export function verifyManifest(text: string, trustedKeys: readonly KeyObject[]): ManifestPayload {
  if (text.length > MAX_MANIFEST_BYTES * 2) throw new AgentError('INTEGRITY_MANIFEST_INVALID', 'The integrity manifest is too large.');
  let outer: SignedManifest;
  try {
    outer = signedManifest.parse(JSON.parse(text));
  } catch (err) {
    throw new AgentError('INTEGRITY_MANIFEST_INVALID', 'The integrity manifest is not a signed manifest.', { cause: err });
  }
  const bytes = Buffer.from(outer.payload, 'base64');
  const message = Buffer.concat([Buffer.from(SIGNING_CONTEXT), bytes]);
  const byId = new Map(trustedKeys.map((k) => [keyId(k), k]));
  // RFC 8032 5.1.7: verify over the exact signed bytes, and only with a key we already trust (never one the manifest names).
  const ok = outer.signatures.some((s) => {
    const key = byId.get(s.keyId);
    return key !== undefined && verify(null, message, key, Buffer.from(s.sig, 'base64'));
  });
  if (!ok) throw new AgentError('INTEGRITY_SIGNATURE_INVALID', 'The integrity manifest is not signed by a trusted release key.');
  let payload: ManifestPayload;
  try {
    payload = manifestPayload.parse(JSON.parse(bytes.toString('utf8')));
  } catch (err) {
    throw new AgentError('INTEGRITY_MANIFEST_INVALID', 'The signed manifest payload does not match the manifest format.', { cause: err });
  }
  if (Object.keys(payload.files).length > MAX_FILES)
    throw new AgentError('INTEGRITY_MANIFEST_INVALID', 'The manifest lists too many files.');
  return payload;
}

export interface TreeProblem {
  path: string;
  kind: 'changed' | 'added' | 'missing';
}

/** Compares the folder with the manifest: every listed file present with its hash, nothing extra. */
export async function compareTree(root: string, payload: ManifestPayload): Promise<TreeProblem[]> {
  const tree = await walkTree(root);
  const problems: TreeProblem[] = [];
  for (const [path, sha256] of Object.entries(payload.files)) {
    const entry = tree.get(path);
    if (entry === undefined) problems.push({ path, kind: 'missing' });
    else if (entry.kind !== 'file' || entry.sha256 !== sha256) problems.push({ path, kind: 'changed' });
  }
  for (const path of tree.keys()) if (!Object.hasOwn(payload.files, path)) problems.push({ path, kind: 'added' });
  return problems.sort((a, b) => a.path.localeCompare(b.path));
}

export async function readManifestFile(root: string): Promise<string | undefined> {
  try {
    const st = await lstat(join(root, MANIFEST_FILE));
    if (!st.isFile()) throw new AgentError('INTEGRITY_MANIFEST_INVALID', `${MANIFEST_FILE} is not a regular file.`);
    if (st.size > MAX_MANIFEST_BYTES * 2) throw new AgentError('INTEGRITY_MANIFEST_INVALID', 'The integrity manifest is too large.');
    return await readFile(join(root, MANIFEST_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

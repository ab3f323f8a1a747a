import { createHash } from 'node:crypto';
import { ReleaseError } from './errors.js';

/**
 * The agent release bundle: a plain POSIX ustar archive (so `tar -tf` lists
 * it) whose first entry is `manifest.json`, the SHA-256 and size of every
 * other entry. Regular files only: no links, devices or directories, and no
 * path that could leave the folder it is unpacked into.
 */
export const BUNDLE_FORMAT = 'sightline-agent-bundle/1';
export const BUNDLE_MANIFEST = 'manifest.json';
const BLOCK = 512;
const MAX_FILES = 20_000;
const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
const VERSION_RE = /^\d{1,9}\.\d{1,9}\.\d{1,9}(?:-[0-9A-Za-z.-]{1,64})?$/;

export interface BundleFileEntry {
  path: string;
  size: number;
  sha256: string;
  mode: number;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: string;
  files: BundleFileEntry[];
}

export interface BundleInput {
  version: string;
  files: { path: string; data: Uint8Array; mode?: number }[];
}

/** A release version: semantic version MAJOR.MINOR.PATCH with an optional pre-release. */
export function isReleaseVersion(v: string): boolean {
  return VERSION_RE.test(v);
}

/** Orders release versions (pre-releases before their release, compared as text). */
export function compareReleaseVersions(a: string, b: string): number {
  const parse = (v: string): [number[], string] => {
    const [core = '', pre = ''] = v.split(/-(.*)/s);
    return [core.split('.').map(Number), pre];
  };
  const [ac, ap] = parse(a);
  const [bc, bp] = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (ac[i] ?? 0) - (bc[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (ap === bp) return 0;
  if (ap === '') return 1;
  if (bp === '') return -1;
  return ap < bp ? -1 : 1;
}

/** The TUF target name of a release. */
export function bundleTargetName(version: string): string {
  return `sightline-agent-${version}.tar`;
}

function invalid(message: string, details?: Record<string, unknown>): ReleaseError {
  return new ReleaseError('BUNDLE_INVALID', message, details === undefined ? undefined : { details });
}

/** Refuses a path that is absolute, climbs (`..`), is empty, or carries odd characters. */
export function assertSafeBundlePath(path: string): void {
  if (path.length === 0 || Buffer.byteLength(path) > 255 || path.startsWith('/') || path.includes('\\') || /[\0-\x1f]/.test(path)) {
    throw invalid(`Bundle path "${path.slice(0, 80)}" is not a relative path of at most 255 bytes.`, { path: path.slice(0, 255) });
  }
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw invalid(`Bundle path "${path}" has an empty, "." or ".." segment.`, { path });
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'ascii');
  buf[offset + length - 1] = 0;
}

function header(path: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(path) > 100) {
    // ustar splits a long path at a slash: prefix (≤155 bytes) + name (≤100 bytes).
    const cut = path.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw invalid(`Bundle path "${path}" is too long for ustar.`, { path });
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, mode & 0o7777);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, 0);
  h.fill(0x20, 148, 156);
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\u000000', 257, 8, 'binary');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

function entry(path: string, data: Uint8Array, mode: number): Buffer[] {
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [header(path, data.length, mode), Buffer.from(data), Buffer.alloc(pad)];
}

/** Packs the agent's files and their manifest into one bundle (deterministic: sorted, zero mtimes). */
export function packBundle(input: BundleInput): Buffer {
  if (!isReleaseVersion(input.version)) throw invalid(`"${input.version}" is not a release version such as 1.2.0.`, { field: 'version' });
  const files = [...input.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seen = new Set<string>();
  for (const f of files) {
    assertSafeBundlePath(f.path);
    if (f.path === BUNDLE_MANIFEST || seen.has(f.path)) throw invalid(`Bundle path "${f.path}" appears twice or is reserved.`, { path: f.path });
    seen.add(f.path);
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: input.version,
    files: files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256(f.data), mode: (f.mode ?? 0o644) & 0o777 })),
  };
  const parts: Buffer[] = [...entry(BUNDLE_MANIFEST, Buffer.from(JSON.stringify(manifest, null, 2)), 0o644)];
  files.forEach((f, i) => parts.push(...entry(f.path, f.data, manifest.files[i]?.mode ?? 0o644)));
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

function readOctal(h: Buffer, offset: number, length: number, what: string): number {
  const text = h.toString('ascii', offset, offset + length).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]{1,12}$/.test(text)) throw invalid(`A bundle header has a malformed ${what} field.`);
  return parseInt(text, 8);
}

function readString(h: Buffer, offset: number, length: number): string {
  const raw = h.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString('utf8');
}

function parseManifest(bytes: Buffer): BundleManifest {
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ReleaseError('BUNDLE_INVALID', 'The bundle\'s manifest.json is not JSON.', { cause: err });
  }
  const o = m as Partial<BundleManifest> | null;
  if (o === null || typeof o !== 'object' || o.format !== BUNDLE_FORMAT || typeof o.version !== 'string' || !isReleaseVersion(o.version) || !Array.isArray(o.files)) {
    throw invalid(`The bundle's manifest.json is not a ${BUNDLE_FORMAT} manifest with a version and a files list.`);
  }
  if (o.files.length > MAX_FILES) throw invalid(`A bundle holds at most ${MAX_FILES} files.`);
  for (const f of o.files as unknown[]) {
    const e = f as Partial<BundleFileEntry> | null;
    if (e === null || typeof e !== 'object' || typeof e.path !== 'string' || !Number.isSafeInteger(e.size) || (e.size ?? -1) < 0 || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256) || !Number.isInteger(e.mode)) {
      throw invalid('A manifest.json entry lacks path, size, sha256 (hex) or mode.');
    }
    assertSafeBundlePath(e.path);
  }
  return { format: BUNDLE_FORMAT, version: o.version, files: o.files };
}

/**
 * Reads a bundle and checks every file against manifest.json: the same
 * set of paths, sizes and SHA-256 digests (fails closed on any difference).
 */
export function readBundle(bytes: Uint8Array, options: { maxBytes?: number } = {}): { manifest: BundleManifest; files: Map<string, Buffer> } {
  const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > max) throw invalid(`The bundle is larger than ${max} bytes.`, { maxBytes: max });
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries: { path: string; data: Buffer }[] = [];
  let off = 0;
  for (;;) {
    if (off + BLOCK > buf.length) throw invalid('The bundle ends before its end-of-archive blocks (truncated).');
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    if (readOctal(h, 148, 8, 'checksum') !== sum) throw invalid('A bundle header fails its checksum.');
    if (h.toString('binary', 257, 263) !== 'ustar\0') throw invalid('The bundle is not a POSIX ustar archive.');
    const type = h.toString('ascii', 156, 157);
    if (type !== '0' && type !== '\0') throw invalid('A bundle may hold regular files only (no links, directories or devices).');
    const prefix = readString(h, 345, 155);
    const name = readString(h, 0, 100);
    const path = prefix === '' ? name : `${prefix}/${name}`;
    assertSafeBundlePath(path);
    const size = readOctal(h, 124, 12, 'size');
    const start = off + BLOCK;
    if (start + size > buf.length) throw invalid(`Bundle entry "${path}" runs past the end of the archive.`, { path });
    entries.push({ path, data: buf.subarray(start, start + size) });
    if (entries.length > MAX_FILES + 1) throw invalid(`A bundle holds at most ${MAX_FILES} files.`);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  const [first, ...rest] = entries;
  if (first?.path !== BUNDLE_MANIFEST) throw invalid('The bundle\'s first entry must be manifest.json.');
  const manifest = parseManifest(first.data);
  const files = new Map<string, Buffer>();
  for (const e of rest) {
    if (files.has(e.path) || e.path === BUNDLE_MANIFEST) throw invalid(`Bundle path "${e.path}" appears twice.`, { path: e.path });
    files.set(e.path, e.data);
  }
  if (files.size !== manifest.files.length) throw new ReleaseError('BUNDLE_HASH_MISMATCH', 'The bundle\'s files and its manifest.json list different files.');
  for (const f of manifest.files) {
    const data = files.get(f.path);
    if (data === undefined) throw new ReleaseError('BUNDLE_HASH_MISMATCH', `manifest.json lists "${f.path}", which the bundle lacks.`, { details: { path: f.path } });
    if (data.length !== f.size || sha256(data) !== f.sha256) {
      throw new ReleaseError('BUNDLE_HASH_MISMATCH', `Bundle file "${f.path}" differs from its manifest.json entry (size or SHA-256).`, { details: { path: f.path } });
    }
  }
  return { manifest, files };
}

/**
 * Audit trail benchmarks (issue 3):
 * - appends/s through AuditService.record on the embedded SQLite store (one
 *   transaction per event, tree nodes included), and checkpoint signing time;
 * - offline verification events/s (verifyAuditLog) against raw SHA-256 of the
 *   same bytes in the same run (the ceiling);
 * - inclusion proof size and time in a 10-million-event tree.
 */
import { hash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateNoteKey,
  hashChildren,
  hashLeaf,
  inclusionProof,
  parseSignerKey,
  signCheckpoint,
  TreeBuilder,
  treeHash,
  verifyAuditLog,
  verifyInclusion,
  type HashReader,
  type NodeId,
} from '@sightline/core';
import { initDataDir, loadConfig } from '@sightline/server';
import { buildServices } from '../packages/server/src/app.js';
import { RootKey } from '../packages/server/src/keys/root-key.js';
import { openDatabase, storageUrlOf } from './lib/storage.js';

function sampleLine(i: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      seq: i,
      time: new Date(1_790_000_000_000 + i * 1000).toISOString(),
      requestId: `0b9d2c6e-4f1a-4b7e-9c33-${String(i).padStart(12, '0')}`,
      principal: { type: 'user', id: 'f3a1c2d4-1111-4222-8333-944455556666', name: 'operator-7' },
      project: 'default',
      action: 'device:Get',
      resource: `srn:sightline:default:device/cam-${i % 500}`,
      outcome: 'allowed',
      errorCode: null,
      sourceIp: '10.1.2.3',
      userAgent: 'sightline-cli/0.1.0',
      parameters: { name: `cam-${i % 500}` },
    }),
  );
}

async function appends(count: number): Promise<Record<string, number>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-audit-'));
  try {
    await initDataDir({ dataDir, port: 0, env: {} });
    const config = loadConfig(dataDir, {});
    const db = await openDatabase({ url: storageUrlOf(config) });
    const s = buildServices(config, db, RootKey.load(dataDir));
    await s.audit.start();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      await s.audit.record({
        requestId: `r${i}`,
        time: Date.now(),
        principal: { type: 'user', id: 'u', name: 'operator-7' },
        action: 'device:Get',
        resource: `srn:sightline:default:device/cam-${i % 500}`,
        sourceIp: '10.1.2.3',
        userAgent: 'bench',
        outcome: 'allowed',
        parameters: { name: `cam-${i % 500}` },
      });
    }
    const appendSeconds = (performance.now() - t0) / 1000;
    const c0 = performance.now();
    await s.audit.checkpoint();
    const checkpointMs = performance.now() - c0;
    await s.audit.stop();
    await db.close();
    return { appendEvents: count, appendsPerSecond: Math.round(count / appendSeconds), appendMeanMs: Number(((appendSeconds * 1000) / count).toFixed(3)), checkpointMs: Number(checkpointMs.toFixed(2)) };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function verification(count: number): Promise<Record<string, number>> {
  const lines = Array.from({ length: count }, (_, i) => sampleLine(i));
  const bytes = lines.reduce((n, l) => n + l.length, 0);
  // Ceiling: SHA-256 of the same lines, one call per line, nothing else.
  const h0 = performance.now();
  for (const l of lines) hash('sha256', l, 'buffer');
  const rawSeconds = (performance.now() - h0) / 1000;

  const { signerKey, verifierKey } = generateNoteKey('bench.local/audit');
  const builder = new TreeBuilder();
  for (const l of lines) builder.append(l);
  const note = await signCheckpoint({ origin: 'bench.local/audit', size: count, rootHash: builder.root() }, [parseSignerKey(signerKey)]);
  const v0 = performance.now();
  const result = await verifyAuditLog({ events: lines, checkpoints: [note], verifier: verifierKey });
  const verifySeconds = (performance.now() - v0) / 1000;
  if (result.events !== count) throw new Error('verification miscounted');
  return {
    verifyEvents: count,
    meanEventBytes: Math.round(bytes / count),
    verifyPerSecond: Math.round(count / verifySeconds),
    rawSha256LinesPerSecond: Math.round(count / rawSeconds),
    verifyRatioToRawSha256: Number((rawSeconds / verifySeconds).toFixed(3)),
  };
}

/** A complete tree held level by level in flat buffers (32 bytes a node). */
class FlatTree implements HashReader {
  readonly levels: Buffer[] = [];
  constructor(readonly size: number) {
    const leaves = Buffer.allocUnsafe(size * 32);
    const scratch = Buffer.alloc(16);
    for (let i = 0; i < size; i++) {
      scratch.writeUInt32BE(i, 12);
      leaves.set(hashLeaf(scratch), i * 32);
    }
    this.levels.push(leaves);
    for (let n = size; n > 1; n = Math.floor(n / 2)) {
      const below = this.levels[this.levels.length - 1]!;
      const up = Buffer.allocUnsafe(Math.floor(n / 2) * 32);
      for (let i = 0; i < Math.floor(n / 2); i++) {
        up.set(hashChildren(below.subarray(i * 64, i * 64 + 32), below.subarray(i * 64 + 32, i * 64 + 64)), i * 32);
      }
      this.levels.push(up);
    }
  }
  getNodes(ids: readonly NodeId[]): Promise<(Uint8Array | undefined)[]> {
    return Promise.resolve(ids.map((id) => this.levels[id.level]?.subarray(id.index * 32, id.index * 32 + 32)));
  }
}

async function proofs(size: number, samples: number): Promise<Record<string, number>> {
  const b0 = performance.now();
  const tree = new FlatTree(size);
  const buildSeconds = (performance.now() - b0) / 1000;
  const root = await treeHash(tree, size);
  let proveMs = 0;
  let verifyMs = 0;
  let proofBytes = 0;
  const scratch = Buffer.alloc(16);
  for (let k = 0; k < samples; k++) {
    const index = Math.floor((k * 2654435761) % size);
    const p0 = performance.now();
    const proof = await inclusionProof(tree, index, size);
    proveMs += performance.now() - p0;
    proofBytes = proof.length * 32;
    scratch.writeUInt32BE(index, 12);
    const v0 = performance.now();
    verifyInclusion(index, size, hashLeaf(scratch), proof, root);
    verifyMs += performance.now() - v0;
  }
  return {
    proofTreeSize: size,
    proofTreeBuildSeconds: Number(buildSeconds.toFixed(1)),
    inclusionProofBytes: proofBytes,
    inclusionProveMicroseconds: Number(((proveMs * 1000) / samples).toFixed(1)),
    inclusionVerifyMicroseconds: Number(((verifyMs * 1000) / samples).toFixed(1)),
  };
}

export async function benchAudit(): Promise<Record<string, unknown>> {
  return { bench: 'audit', ...(await appends(5000)), ...(await verification(1_000_000)), ...(await proofs(10_000_000, 1000)) };
}

import { createPublicKey, randomUUID } from 'node:crypto';
import {
  TreeBuilder,
  appendLeaves,
  compactRange,
  consistencyProof,
  generateNoteKey,
  hashLeaf,
  inclusionProof,
  parseAndVerifyCheckpoint,
  parseSignerKey,
  recordsRetentionCut,
  RETENTION_CUT_ACTION,
  AuditVerifyError,
  parseVerifierKey,
  signCheckpoint,
  treeHash,
  verifyAuditLog,
  type HashReader,
  type NodeId,
  type NoteSigner,
  type NoteVerifier,
} from '@sightline/core';
import { SightlineError } from '@sightline/core';
import type { Clock } from '../clock.js';
import type { AuditRecord, AuditSink } from '../http/pipeline.js';
import type { RootKey } from '../keys/root-key.js';
import type { Logger } from '../logging/logger.js';
import type { Store } from '../storage/store.js';
import { eventLine, projectOf } from './audit-event.js';
import type { AuditBase, AuditExportReceipt, AuditFilter, AuditRepository } from './audit.repository.js';

export type AuditErrorCode =
  | 'AUDIT_UNAVAILABLE'
  | 'AUDIT_EVENT_NOT_FOUND'
  | 'AUDIT_RANGE_INVALID'
  | 'AUDIT_NOT_CHECKPOINTED'
  /** An export receipt that does not name a checkpoint this log signed, or leaves kept events out. */
  | 'AUDIT_EXPORT_INVALID';
export class AuditError extends SightlineError<AuditErrorCode> {}

export interface AuditSettings {
  /** Sign a checkpoint at least this often (default 5 minutes)… */
  checkpointIntervalMs: number;
  /** …and after at most this many new events (default 10,000). */
  checkpointEveryEvents: number;
  /** Drop exported periods older than this many days; 0 (the default) keeps every event forever. */
  retentionDays?: number;
  /** How often the retention job runs when retention is on (default hourly). */
  retentionIntervalMs?: number;
}

/** The retention cut as the API shows it. */
export interface AuditBaseView {
  /** Events [0, size) were dropped; the first kept event is `size`. */
  size: number;
  /** Base64 hashes of the maximal complete subtrees over [0, size), largest first (RFC 9162 2.1). */
  compactRange: string[];
  /** The signed checkpoint at the cut; null while nothing was dropped. */
  checkpoint: string | null;
  prunedAt: string | null;
}

export interface AuditPruneResult {
  pruned: boolean;
  /** Events deleted by this run. */
  dropped: number;
  /** Why nothing was dropped. */
  reason?: string;
  base: AuditBaseView;
}

export interface AuditExportView {
  id: string;
  from: number;
  size: number;
  rootHash: string;
  principal: string;
  createdAt: string;
}

const DAY_MS = 86_400_000;
const RETENTION_PRINCIPAL = { type: 'anonymous' as const, id: '', name: 'sightline-retention' };

function baseView(b: AuditBase): AuditBaseView {
  return {
    size: b.size,
    compactRange: b.compactRange.map(b64),
    checkpoint: b.size === 0 ? null : b.note,
    prunedAt: b.prunedAt === 0 ? null : new Date(b.prunedAt).toISOString(),
  };
}

const exportView = (r: AuditExportReceipt): AuditExportView => ({
  id: r.id,
  from: r.fromSeq,
  size: r.size,
  rootHash: r.root,
  principal: `${r.principalType}:${r.principalName}`,
  createdAt: new Date(r.createdAt).toISOString(),
});

const SIGNER_SETTING = 'audit.signer-key.sealed';
const VERIFIER_SETTING = 'audit.verifier-key';
const SIGNER_CONTEXT = 'audit-checkpoint-signer';

const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');
const nodeKey = (id: NodeId): string => `${id.level}/${id.index}`;

/**
 * The tree's right edge as of `size` leaves (its compact range, RFC 9162 2.1): the only stored
 * nodes the next append reads. Kept after each append this process commits, so an append needs
 * no read; any other size (another replica appended, a transaction rolled back) reads the store.
 */
interface Frontier {
  size: number;
  nodes: ReadonlyMap<string, Uint8Array>;
}

/** A reader that answers from the frontier and remembers what it read, for the next frontier. */
function frontierReader(repo: HashReader, frontier: Frontier | undefined, size: number, seen: Map<string, Uint8Array>): HashReader {
  const cached = frontier?.size === size ? frontier.nodes : undefined;
  return {
    async getNodes(ids) {
      const out: (Uint8Array | undefined)[] = ids.map((id) => cached?.get(nodeKey(id)));
      const missing = ids.filter((_, i) => out[i] === undefined);
      if (missing.length > 0) {
        const read = await repo.getNodes(missing);
        let j = 0;
        out.forEach((h, i) => {
          if (h === undefined) out[i] = read[j++];
        });
      }
      ids.forEach((id, i) => {
        const h = out[i];
        if (h !== undefined) seen.set(nodeKey(id), h);
      });
      return out;
    },
  };
}

/**
 * The audit trail (seed point 4, answering CloudTrail): every call is a leaf
 * of an append-only RFC 9162 Merkle tree, written in the same transaction as
 * the change it records; signed C2SP checkpoints let anyone verify offline.
 */
export class AuditService implements AuditSink {
  private signer: NoteSigner | undefined;
  private verifier: NoteVerifier | undefined;
  private vkey = '';
  private origin = '';
  private lastCheckpointSize = 0;
  private checkpointing: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<unknown> | undefined;
  private frontier: Frontier | undefined;

  constructor(
    private readonly store: Store,
    private readonly repo: AuditRepository,
    private readonly rootKey: RootKey,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: AuditSettings,
  ) {}

  /** Loads (or, on a new install, creates) the checkpoint signing key; starts the checkpoint timer. */
  async start(): Promise<void> {
    if ((await this.repo.getSetting(VERIFIER_SETTING)) === undefined) {
      const origin = `sightline.local/audit/${Math.floor(this.clock.now() / 1000).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
      const { signerKey, verifierKey } = generateNoteKey(origin);
      await this.store.transaction(async () => {
        // Insert-if-absent, so two replicas starting at once agree on one key.
        await this.repo.putSettingIfAbsent(SIGNER_SETTING, this.rootKey.seal(Buffer.from(signerKey), SIGNER_CONTEXT));
        await this.repo.putSettingIfAbsent(VERIFIER_SETTING, verifierKey);
      });
    }
    const sealed = await this.repo.getSetting(SIGNER_SETTING);
    const vkey = await this.repo.getSetting(VERIFIER_SETTING);
    if (sealed === undefined || vkey === undefined) throw new AuditError('AUDIT_UNAVAILABLE', 'The audit signing key is missing from the database.');
    this.signer = parseSignerKey(this.rootKey.open(sealed, SIGNER_CONTEXT).toString('utf8'));
    this.verifier = parseVerifierKey(vkey);
    this.vkey = vkey;
    this.origin = this.verifier.name;
    this.lastCheckpointSize = (await this.repo.latestCheckpoint())?.size ?? 0;
    this.timer = setInterval(() => {
      this.checkpointSoon();
    }, this.settings.checkpointIntervalMs);
    this.timer.unref();
    if ((this.settings.retentionDays ?? 0) > 0) {
      this.retentionTimer = setInterval(() => {
        this.pruneSoon();
      }, this.settings.retentionIntervalMs ?? 3_600_000);
      this.retentionTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.retentionTimer !== undefined) clearInterval(this.retentionTimer);
    await this.checkpointing;
    await this.pruning;
  }

  /** Appends one event; must run inside the caller's transaction (it joins it). */
  async record(r: AuditRecord): Promise<void> {
    await this.store.transaction(async () => {
      const size = await this.repo.reserveLeaf();
      const project = projectOf(r.resource);
      const line = eventLine({ ...r, seq: size, project });
      const seen = new Map<string, Uint8Array>();
      const before = this.frontier;
      const nodes = await appendLeaves(frontierReader(this.repo, before, size, seen), size, [Buffer.from(line)]);
      await this.repo.append(
        {
          seq: size,
          time: r.time,
          principal_type: r.principal.type,
          principal_id: r.principal.id,
          principal_name: r.principal.name,
          project,
          action: r.action,
          resource: r.resource,
          outcome: r.outcome,
          error_code: r.errorCode ?? null,
          request_id: r.requestId,
          line,
        },
        nodes,
      );
      if (size + 1 - this.lastCheckpointSize >= this.settings.checkpointEveryEvents) this.checkpointSoon();
      // The next frontier, from the old one, what was read and what was made; it counts only once committed.
      if (before?.size === size) for (const [k, h] of before.nodes) seen.set(k, h);
      for (const n of nodes) seen.set(nodeKey(n), n.hash);
      const next = new Map<string, Uint8Array>();
      for (const id of compactRange(size + 1)) {
        const h = seen.get(nodeKey(id));
        if (h !== undefined) next.set(nodeKey(id), h);
      }
      this.store.afterCommit(() => {
        this.frontier = { size: size + 1, nodes: next };
      });
    });
  }

  private checkpointSoon(): void {
    if (this.checkpointing !== undefined) return;
    // After the current transaction: the checkpoint must see committed events only.
    this.checkpointing = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.checkpoint())
      .catch((err: unknown) => this.logger.error('audit checkpoint failed', { error: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        this.checkpointing = undefined;
      });
  }

  /** Signs a checkpoint of the tree as it is now (no-op when nothing was added). */
  async checkpoint(): Promise<{ size: number; note: string }> {
    if (this.signer === undefined) throw new AuditError('AUDIT_UNAVAILABLE', 'The audit trail is not started.');
    const signer = this.signer;
    const size = await this.repo.size();
    const latest = await this.repo.latestCheckpoint();
    if (latest !== undefined && latest.size >= size) return latest;
    const root = await treeHash(this.repo, size);
    const note = await signCheckpoint({ origin: this.origin, size, rootHash: root }, [signer]);
    await this.repo.insertCheckpoint(size, root, note, this.clock.now());
    this.lastCheckpointSize = Math.max(this.lastCheckpointSize, size);
    return { size, note };
  }

  publicKey(): { origin: string; verifierKey: string; publicKeyPem: string } {
    // vkey = name+keyid+base64(0x01 || key); the base64 part may itself contain '+'.
    const second = this.vkey.indexOf('+', this.vkey.indexOf('+') + 1);
    const raw = Buffer.from(this.vkey.slice(second + 1), 'base64').subarray(1);
    // Wrap the raw Ed25519 key in SPKI (RFC 8410) for tools that want PEM.
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
    const pem = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString();
    return { origin: this.origin, verifierKey: this.vkey, publicKeyPem: pem };
  }

  async list(filter: AuditFilter): Promise<{ seq: number; event: unknown }[]> {
    return (await this.repo.list(filter)).map((r) => ({ seq: Number(r.seq), event: JSON.parse(r.line) as unknown }));
  }

  lines(afterSeq: number, limit: number): Promise<{ seq: number; line: string }[]> {
    return this.repo.lines(afterSeq, limit);
  }

  async checkpoints(afterSize: number, limit: number): Promise<{ size: number; note: string; createdAt: string }[]> {
    return (await this.repo.checkpoints(afterSize, limit)).map((c) => ({ size: Number(c.size), note: c.note, createdAt: new Date(c.created_at).toISOString() }));
  }

  /**
   * Consistency proofs between consecutive checkpoints after `afterSize`, a
   * page at a time: what an export needs, in a few calls instead of one per pair.
   */
  async consistencyChain(afterSize: number, limit: number): Promise<{ from: number; to: number; proof: string[] }[]> {
    const previous = afterSize < 0 ? [] : await this.repo.checkpoints(afterSize - 1, 1);
    const page = await this.repo.checkpoints(afterSize, limit);
    const sizes = [...previous, ...page].map((c) => Number(c.size));
    const out: { from: number; to: number; proof: string[] }[] = [];
    for (let i = 1; i < sizes.length; i++) {
      const from = sizes[i - 1] as number;
      const to = sizes[i] as number;
      out.push({ from, to, proof: from === 0 || from === to ? [] : (await consistencyProof(this.repo, from, to)).map(b64) });
    }
    return out;
  }

  /** An inclusion proof for event `seq` against the first signed checkpoint that covers it. */
  async prove(seq: number): Promise<{ seq: number; line: string; leafHash: string; treeSize: number; proof: string[]; checkpoint: string }> {
    const event = await this.repo.get(seq);
    if (event === undefined) {
      const base = await this.repo.base();
      if (seq < base.size) {
        throw new AuditError(
          'AUDIT_EVENT_NOT_FOUND',
          `Event ${seq} was dropped by retention: the log keeps events from ${base.size} on. Its proof is in the export that held it.`,
          { details: { baseSize: base.size } },
        );
      }
      throw new AuditError('AUDIT_EVENT_NOT_FOUND', `No audit event ${seq}.`);
    }
    let cp = await this.repo.checkpointCovering(seq + 1);
    if (cp === undefined) {
      await this.checkpoint();
      cp = await this.repo.checkpointCovering(seq + 1);
    }
    if (cp === undefined) throw new AuditError('AUDIT_NOT_CHECKPOINTED', `Event ${seq} is not covered by a checkpoint yet; try again shortly.`);
    const proof = await inclusionProof(this.repo, seq, Number(cp.size));
    return { seq, line: event.line, leafHash: b64(hashLeaf(Buffer.from(event.line))), treeSize: Number(cp.size), proof: proof.map(b64), checkpoint: cp.note };
  }

  async consistency(from: number, to: number): Promise<string[]> {
    const size = await this.repo.size();
    // After a retention cut, proofs start at the cut: the nodes inside the dropped part are gone.
    const low = Math.max(1, (await this.repo.base()).size);
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= low && from <= to && to <= size)) {
      throw new AuditError('AUDIT_RANGE_INVALID', `Give sizes with ${low} <= from <= to <= ${size}.`);
    }
    return (await consistencyProof(this.repo, from, to)).map(b64);
  }

  /** Verifies the live store as `sightline audit verify` verifies an export. */
  async verifyLive(): Promise<{ events: number; baseSize: number; treeSize: number; checkpoints: number; signedSize: number }> {
    const base = await this.repo.base();
    try {
      return await this.verifyFrom(base);
    } catch (err) {
      // A retention cut that committed while this ran changes the first event: verify again from it.
      const now = await this.repo.base();
      if (err instanceof AuditVerifyError && now.size !== base.size) return this.verifyFrom(now);
      throw err;
    }
  }

  private async verifyFrom(base: AuditBase): Promise<{ events: number; baseSize: number; treeSize: number; checkpoints: number; signedSize: number }> {
    const repo = this.repo;
    let cutRecorded = base.size === 0;
    async function* events(): AsyncGenerator<Uint8Array> {
      let after = -1;
      for (;;) {
        const batch = await repo.lines(after, 5000);
        if (batch.length === 0) return;
        for (const b of batch) {
          const line = Buffer.from(b.line);
          if (!cutRecorded) cutRecorded = recordsRetentionCut(line, base.size);
          yield line;
        }
        after = Number(batch[batch.length - 1]?.seq ?? after);
      }
    }
    const checkpoints = (await this.repo.checkpoints()).map((c) => c.note);
    const result = await verifyAuditLog({
      events: events(),
      checkpoints,
      verifier: this.vkey,
      allowUnsignedTail: true,
      base: { size: base.size, compactRange: base.compactRange },
    });
    if (!cutRecorded) {
      throw new AuditVerifyError(
        'AUDIT_BASE_UNRECORDED',
        `The log starts at event ${base.size}, but no kept event records a retention cut there (${RETENTION_CUT_ACTION}): ` +
          'the events before it were removed outside retention.',
        { details: { baseSize: base.size } },
      );
    }
    return { events: result.events, baseSize: result.baseSize, treeSize: result.treeSize, checkpoints: result.checkpoints, signedSize: result.signedSize };
  }

  async base(): Promise<AuditBaseView> {
    return baseView(await this.repo.base());
  }

  /**
   * Records that an export held events [from, size) and ended on the log's signed checkpoint of
   * `size`: only such a period may later be dropped by retention.
   */
  async recordExport(
    principal: { type: string; name: string },
    input: { from: number; size: number; checkpoint: string },
  ): Promise<AuditExportView> {
    if (this.verifier === undefined) throw new AuditError('AUDIT_UNAVAILABLE', 'The audit trail is not started.');
    const invalid = (message: string): AuditError => new AuditError('AUDIT_EXPORT_INVALID', message, { details: { field: 'checkpoint' } });
    let cp;
    try {
      cp = parseAndVerifyCheckpoint(input.checkpoint, this.verifier);
    } catch (err) {
      throw invalid(`The checkpoint is not one this log signed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (cp.size !== input.size) throw invalid(`The checkpoint is of size ${cp.size}, not ${input.size}.`);
    const stored = await this.repo.checkpointAt(cp.size);
    if (stored?.root !== b64(cp.rootHash)) throw invalid(`The log holds no signed checkpoint of size ${cp.size} with that root.`);
    const base = await this.repo.base();
    if (input.from > base.size || input.from > input.size) {
      throw new AuditError('AUDIT_EXPORT_INVALID', `The export starts at event ${input.from} but the log keeps events from ${base.size} on: an export holds every kept event up to its checkpoint.`, {
        details: { field: 'from' },
      });
    }
    const receipt: AuditExportReceipt = {
      id: randomUUID(),
      fromSeq: input.from,
      size: cp.size,
      root: stored.root,
      principalType: principal.type,
      principalName: principal.name,
      createdAt: this.clock.now(),
    };
    await this.repo.insertExport(receipt);
    return exportView(receipt);
  }

  async exports(limit: number): Promise<AuditExportView[]> {
    return (await this.repo.exports(limit)).map(exportView);
  }

  private pruneSoon(): void {
    if (this.pruning !== undefined) return;
    this.pruning = this.prune()
      .catch((err: unknown) => this.logger.error('audit retention failed', { error: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        this.pruning = undefined;
      });
  }

  /**
   * The retention job (issue 3): drops events [cut, newCut) where newCut is the largest signed
   * checkpoint size such that every event before it is older than `retentionDays` and an export
   * covered it. Keeps the compact range of [0, newCut) and the checkpoint at newCut, so the kept
   * log still verifies; records the cut as an `audit:Prune` event in the same transaction.
   */
  async prune(actor?: { type: AuditRecord['principal']['type']; id: string; name: string }): Promise<AuditPruneResult> {
    const days = this.settings.retentionDays ?? 0;
    const base = await this.repo.base();
    const nothing = (reason: string): AuditPruneResult => ({ pruned: false, dropped: 0, reason, base: baseView(base) });
    if (days === 0) return nothing('Retention is off (audit.retentionDays is 0): every event is kept.');
    const now = this.clock.now();
    const exported = await this.repo.exportedThrough(base.size);
    if (exported <= base.size) return nothing(`No export covers events after ${base.size}; run "sightline audit export" first.`);
    const young = (await this.repo.firstSeqSince(now - days * DAY_MS)) ?? (await this.repo.size());
    const cp = await this.repo.lastCheckpointIn(base.size, Math.min(exported, young));
    if (cp === undefined) {
      return nothing(
        `No exported period ends on a checkpoint before the first event younger than ${days} days (event ${young}); exports cover events up to ${exported}.`,
      );
    }
    return this.store.transaction(async () => {
      // The compact range must reproduce the signed root before anything is deleted: fail closed.
      const range = await this.repo.getNodes(compactRange(cp.size));
      const hashes = range.filter((h): h is Uint8Array => h !== undefined);
      if (hashes.length !== range.length || b64(TreeBuilder.fromCompactRange(cp.size, hashes).root()) !== cp.root) {
        throw new AuditError('AUDIT_UNAVAILABLE', `The stored tree does not reproduce the checkpoint of size ${cp.size}; nothing was dropped. Run "sightline audit verify --server".`);
      }
      if (!(await this.repo.moveBase(cp.size, hashes, cp.note, now))) return nothing('Another replica moved the cut first.');
      const dropped = await this.repo.dropBefore(cp.size);
      await this.record({
        requestId: randomUUID(),
        time: now,
        principal: actor ?? RETENTION_PRINCIPAL,
        action: RETENTION_CUT_ACTION,
        resource: 'srn:sightline::audit/retention',
        sourceIp: '',
        userAgent: 'sightline-retention',
        outcome: 'allowed',
        parameters: { cut: cp.size, rootHash: cp.root, dropped, retentionDays: days, previousCut: base.size },
      });
      return { pruned: true, dropped, base: baseView(await this.repo.base()) };
    });
  }
}

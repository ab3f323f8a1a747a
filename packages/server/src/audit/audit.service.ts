import { createPublicKey } from 'node:crypto';
import {
  appendLeaves,
  consistencyProof,
  generateNoteKey,
  hashLeaf,
  inclusionProof,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  treeHash,
  verifyAuditLog,
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
import type { AuditFilter, AuditRepository } from './audit.repository.js';

export type AuditErrorCode = 'AUDIT_UNAVAILABLE' | 'AUDIT_EVENT_NOT_FOUND' | 'AUDIT_RANGE_INVALID' | 'AUDIT_NOT_CHECKPOINTED';
export class AuditError extends SightlineError<AuditErrorCode> {}

export interface AuditSettings {
  /** Sign a checkpoint at least this often (default 5 minutes)… */
  checkpointIntervalMs: number;
  /** …and after at most this many new events (default 10,000). */
  checkpointEveryEvents: number;
}

const SIGNER_SETTING = 'audit.signer-key.sealed';
const VERIFIER_SETTING = 'audit.verifier-key';
const SIGNER_CONTEXT = 'audit-checkpoint-signer';

const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');

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
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.checkpointing;
  }

  /** Appends one event; must run inside the caller's transaction (it joins it). */
  async record(r: AuditRecord): Promise<void> {
    await this.store.transaction(async () => {
      const size = await this.repo.reserveLeaf();
      const project = projectOf(r.resource);
      const line = eventLine({ ...r, seq: size, project });
      const nodes = await appendLeaves(this.repo, size, [Buffer.from(line)]);
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
    if (event === undefined) throw new AuditError('AUDIT_EVENT_NOT_FOUND', `No audit event ${seq}.`);
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
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 1 && from <= to && to <= size)) {
      throw new AuditError('AUDIT_RANGE_INVALID', `Give sizes with 1 <= from <= to <= ${size}.`);
    }
    return (await consistencyProof(this.repo, from, to)).map(b64);
  }

  /** Verifies the live store as `sightline audit verify` verifies an export. */
  async verifyLive(): Promise<{ events: number; checkpoints: number; signedSize: number }> {
    const repo = this.repo;
    async function* events(): AsyncGenerator<Uint8Array> {
      let after = -1;
      for (;;) {
        const batch = await repo.lines(after, 5000);
        if (batch.length === 0) return;
        for (const b of batch) yield Buffer.from(b.line);
        after = Number(batch[batch.length - 1]?.seq ?? after);
      }
    }
    const checkpoints = (await this.repo.checkpoints()).map((c) => c.note);
    const result = await verifyAuditLog({ events: events(), checkpoints, verifier: this.vkey, allowUnsignedTail: true });
    return { events: result.events, checkpoints: result.checkpoints, signedSize: result.signedSize };
  }
}

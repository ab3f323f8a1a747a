/**
 * Offline verification of an audit export: no server, no database, only the
 * files and the log's verifier key. See export-format.ts for the layout.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  AuditVerifyError,
  TreeBuilder,
  emptyRoot,
  isSightlineError,
  parseAndVerifyCheckpoint,
  recordsRetentionCut,
  parseVerifierKey,
  verifyAuditLog,
  verifyConsistencyBetween,
  type AuditLogBase,
  type Checkpoint,
  type NoteVerifier,
} from '@sightline/core';
import { CliError, EXIT } from '../errors.js';
import {
  BASE_FILE,
  CHECKPOINTS_FILE,
  CONSISTENCY_FILE,
  EVENTS_DIR,
  EVENT_FILE_PATTERN,
  MANIFEST_FILE,
  MAX_CHECKPOINTS,
  MAX_EVENT_FILES,
  MAX_EVENT_LINE_BYTES,
  MAX_META_LINE_BYTES,
  PUBLIC_KEY_FILE,
  eventFileName,
  readLines,
  verifyFailed,
} from './export-format.js';

export interface VerifyExportOptions {
  /** A trusted verifier key (vkey); the export's own public-key.json must then hold the same key. */
  key?: string;
  /** A checkpoint note kept earlier, signed by the log's key: the export must extend it. */
  keptCheckpoint?: string;
}

export interface VerifyExportResult {
  verified: true;
  /** Events in the export (the kept ones, from baseSize on). */
  events: number;
  /** The first event: 0, or the retention cut (events before it were dropped and stand as base.json's compact range). */
  baseSize: number;
  treeSize: number;
  eventFiles: number;
  checkpoints: number;
  consistencyProofs: number;
  signedSize: number;
  /** RFC 9162 root of all the events, base64. */
  rootHash: string;
  origin: string;
  verifierKey: string;
  /** `--key`: a key the caller trusts; `export`: the export's own public-key.json (proves only self-consistency). */
  keySource: '--key' | 'export';
  keptCheckpoint?: { size: number; rootHash: string };
  /** Files in events/ that are not event files, which were not read. */
  ignoredFiles: string[];
}

const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');
const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\.$/, '');

function readSmallFile(path: string, where: string): string | undefined {
  if (!existsSync(path)) return undefined;
  if (statSync(path).size > MAX_META_LINE_BYTES)
    throw verifyFailed('AUDIT_EXPORT_INVALID', `${where} is larger than ${MAX_META_LINE_BYTES} bytes; it is not one this tool wrote.`);
  return readFileSync(path, 'utf8');
}

function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw verifyFailed('AUDIT_EXPORT_INVALID', `${where} is not valid JSON.`, { file: where });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw verifyFailed('AUDIT_EXPORT_INVALID', `${where} does not hold a JSON object.`, { file: where });
  return value as Record<string, unknown>;
}

/** The raw 32-byte Ed25519 key of a vkey (`name+hexid+base64(0x01 || key)`; names hold no `+`, base64 may). */
function rawKeyOfVkey(vkey: string): Buffer {
  return Buffer.from(vkey.slice(vkey.indexOf('+', vkey.indexOf('+') + 1) + 1), 'base64').subarray(1);
}

/** The key to verify with: `--key` when given (and then the export must carry the same), else the export's own. */
function loadKey(dir: string, trusted: string | undefined): { verifier: NoteVerifier; vkey: string; source: '--key' | 'export' } {
  const text = readSmallFile(join(dir, PUBLIC_KEY_FILE), PUBLIC_KEY_FILE);
  let exported: string | undefined;
  if (text !== undefined) {
    const pk = parseJsonObject(text, PUBLIC_KEY_FILE);
    if (typeof pk['verifierKey'] !== 'string')
      throw verifyFailed('AUDIT_EXPORT_INVALID', `${PUBLIC_KEY_FILE} has no verifierKey.`, { file: PUBLIC_KEY_FILE });
    exported = pk['verifierKey'];
    let verifier: NoteVerifier;
    try {
      verifier = parseVerifierKey(exported);
    } catch (err) {
      throw verifyFailed(
        'AUDIT_KEY_INVALID',
        `The verifierKey in ${PUBLIC_KEY_FILE} is not a valid key: ${reason(err)}.`,
        { file: PUBLIC_KEY_FILE },
        err,
      );
    }
    if (pk['origin'] !== undefined && pk['origin'] !== verifier.name)
      throw verifyFailed(
        'AUDIT_KEY_MISMATCH',
        `${PUBLIC_KEY_FILE} names origin ${JSON.stringify(pk['origin'])} but its key is for ${JSON.stringify(verifier.name)}.`,
        { file: PUBLIC_KEY_FILE },
      );
    if (typeof pk['publicKeyPem'] === 'string') {
      let same = false;
      try {
        const der = createPublicKey(pk['publicKeyPem']).export({ type: 'spki', format: 'der' });
        same = der.subarray(-32).equals(rawKeyOfVkey(exported));
      } catch {
        same = false;
      }
      if (!same)
        throw verifyFailed(
          'AUDIT_KEY_MISMATCH',
          `The publicKeyPem in ${PUBLIC_KEY_FILE} is not the same key as its verifierKey: the file was altered.`,
          { file: PUBLIC_KEY_FILE },
        );
    }
  }
  if (trusted !== undefined) {
    let verifier: NoteVerifier;
    try {
      verifier = parseVerifierKey(trusted);
    } catch (err) {
      throw new CliError('KEY_INVALID', `--key is not a valid verifier key: ${reason(err)}.`, EXIT.USAGE, { cause: err });
    }
    if (exported !== undefined && exported !== trusted)
      throw verifyFailed(
        'AUDIT_KEY_MISMATCH',
        `The export's key (${PUBLIC_KEY_FILE}: ${exported}) is not the trusted key given with --key (${trusted}): ` +
          'the export was signed by another log or re-signed with another key.',
        { file: PUBLIC_KEY_FILE },
      );
    return { verifier, vkey: trusted, source: '--key' };
  }
  if (exported === undefined)
    throw verifyFailed('AUDIT_EXPORT_INCOMPLETE', `The export has no ${PUBLIC_KEY_FILE}; give the log's key with --key.`, {
      file: PUBLIC_KEY_FILE,
    });
  return { verifier: parseVerifierKey(exported), vkey: exported, source: 'export' };
}

/** Reads checkpoints.jsonl and verifies each note's signature, size field and order. */
function loadCheckpoints(dir: string, verifier: NoteVerifier): { notes: string[]; cps: Checkpoint[] } {
  const path = join(dir, CHECKPOINTS_FILE);
  if (!existsSync(path))
    throw verifyFailed('AUDIT_EXPORT_INCOMPLETE', `The export has no ${CHECKPOINTS_FILE}: nothing signs its events.`, {
      file: CHECKPOINTS_FILE,
    });
  const notes: string[] = [];
  const cps: Checkpoint[] = [];
  let lineNo = 0;
  for (const raw of readLines(path, CHECKPOINTS_FILE, MAX_META_LINE_BYTES)) {
    lineNo++;
    const i = cps.length;
    const where = `${CHECKPOINTS_FILE}:${lineNo} (checkpoint #${i})`;
    if (i >= MAX_CHECKPOINTS)
      throw verifyFailed('AUDIT_EXPORT_TOO_LARGE', `${CHECKPOINTS_FILE} holds more than ${MAX_CHECKPOINTS} checkpoints.`);
    const entry = parseJsonObject(raw.toString('utf8'), where);
    const note = entry['note'];
    if (typeof note !== 'string')
      throw verifyFailed('AUDIT_CHECKPOINT_INVALID', `${where} has no checkpoint note.`, {
        file: CHECKPOINTS_FILE,
        line: lineNo,
        checkpoint: i,
      });
    let cp: Checkpoint;
    try {
      cp = parseAndVerifyCheckpoint(note, verifier);
    } catch (err) {
      const code = isSightlineError(err) ? err.code : '';
      const why =
        {
          CHECKPOINT_UNKNOWN_KEY: " It is signed by another key than the log's: it was replaced.",
          CHECKPOINT_ORIGIN_MISMATCH: ' It is a checkpoint of another log: it was replaced.',
          CHECKPOINT_MALFORMED: ' It was altered.',
        }[code] ?? '';
      throw verifyFailed(
        'AUDIT_CHECKPOINT_INVALID',
        `${where} is not a valid checkpoint of this log${code === '' ? '' : ` (${code})`}: ${reason(err)}.${why}`,
        { file: CHECKPOINTS_FILE, line: lineNo, checkpoint: i, ...(isSightlineError(err) ? { cause: err.code } : {}) },
        err,
      );
    }
    if (entry['size'] !== cp.size)
      throw verifyFailed(
        'AUDIT_CHECKPOINT_INVALID',
        `${where} says size ${JSON.stringify(entry['size'])} but its signed note is of size ${cp.size}.`,
        { file: CHECKPOINTS_FILE, line: lineNo, checkpoint: i },
      );
    const prev = cps[i - 1];
    if (prev !== undefined && cp.size < prev.size)
      throw verifyFailed(
        'AUDIT_ORDER_INVALID',
        `${where} (size ${cp.size}) is smaller than the checkpoint before it (size ${prev.size}): a log only grows, so the checkpoints were reordered.`,
        { file: CHECKPOINTS_FILE, line: lineNo, checkpoint: i },
      );
    notes.push(note);
    cps.push(cp);
  }
  return { notes, cps };
}

/** Checks every consistency proof in consistency.jsonl: one per pair of consecutive checkpoints. */
function checkConsistency(dir: string, cps: readonly Checkpoint[]): number {
  const path = join(dir, CONSISTENCY_FILE);
  const expected = Math.max(0, cps.length - 1);
  if (!existsSync(path)) {
    if (expected === 0) return 0;
    throw verifyFailed('AUDIT_EXPORT_INCOMPLETE', `The export has no ${CONSISTENCY_FILE} but ${cps.length} checkpoints.`, {
      file: CONSISTENCY_FILE,
    });
  }
  let i = 0;
  for (const raw of readLines(path, CONSISTENCY_FILE, MAX_META_LINE_BYTES)) {
    const where = `${CONSISTENCY_FILE}:${i + 1}`;
    const from = cps[i];
    const to = cps[i + 1];
    if (from === undefined || to === undefined)
      throw verifyFailed(
        'AUDIT_CONSISTENCY_INVALID',
        `${where}: there are more consistency proofs than pairs of checkpoints (${expected}).`,
        {
          file: CONSISTENCY_FILE,
          line: i + 1,
        },
      );
    const entry = parseJsonObject(raw.toString('utf8'), where);
    if (entry['from'] !== from.size || entry['to'] !== to.size)
      throw verifyFailed(
        'AUDIT_CONSISTENCY_INVALID',
        `${where} is a proof from size ${JSON.stringify(entry['from'])} to ${JSON.stringify(entry['to'])}, but checkpoints #${i} and #${i + 1} ` +
          `have sizes ${from.size} and ${to.size}.`,
        { file: CONSISTENCY_FILE, line: i + 1 },
      );
    const proof = entry['proof'];
    if (!Array.isArray(proof) || proof.some((h) => typeof h !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(h)))
      throw verifyFailed('AUDIT_CONSISTENCY_INVALID', `${where}: "proof" is not a list of base64 SHA-256 hashes.`, {
        file: CONSISTENCY_FILE,
        line: i + 1,
      });
    try {
      verifyConsistencyBetween(
        from,
        to,
        (proof as string[]).map((h) => Buffer.from(h, 'base64')),
      );
    } catch (err) {
      throw verifyFailed(
        'AUDIT_CONSISTENCY_INVALID',
        `${where}: checkpoint #${i + 1} (size ${to.size}) is not shown to extend checkpoint #${i} (size ${from.size}): ${reason(err)}.`,
        { file: CONSISTENCY_FILE, line: i + 1, checkpoint: i + 1 },
        err,
      );
    }
    i++;
  }
  if (i < expected)
    throw verifyFailed(
      'AUDIT_CONSISTENCY_INVALID',
      `${CONSISTENCY_FILE} holds ${i} proofs but the ${cps.length} checkpoints need ${expected}: the proof from checkpoint #${i} to #${i + 1} is missing.`,
      { file: CONSISTENCY_FILE, line: i + 1 },
    );
  return i;
}

/**
 * base.json, when a retention cut dropped the events before its `size`: the compact range that
 * stands for them. Its shape is checked here; verifyAuditLog checks it against the cut checkpoint.
 */
function loadBase(dir: string): AuditLogBase | undefined {
  const text = readSmallFile(join(dir, BASE_FILE), BASE_FILE);
  if (text === undefined) return undefined;
  const b = parseJsonObject(text, BASE_FILE);
  const size = b['size'];
  const range = b['compactRange'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw verifyFailed('AUDIT_BASE_INVALID', `${BASE_FILE} has no valid "size" (the first kept event).`, { file: BASE_FILE });
  // At most 53 subtrees: one per bit of a safe integer.
  if (!Array.isArray(range) || range.length > 53 || range.some((h) => typeof h !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(h)))
    throw verifyFailed('AUDIT_BASE_INVALID', `${BASE_FILE}: "compactRange" is not a list of base64 SHA-256 hashes.`, { file: BASE_FILE });
  return { size, compactRange: (range as string[]).map((h) => Buffer.from(h, 'base64')) };
}

/** events/000000.jsonl … in order; a gap in the numbering is a deleted file. */
function listEventFiles(dir: string): { files: string[]; ignored: string[] } {
  const eventsDir = join(dir, EVENTS_DIR);
  if (!existsSync(eventsDir)) return { files: [], ignored: [] };
  const numbered: number[] = [];
  const ignored: string[] = [];
  for (const name of readdirSync(eventsDir)) {
    const m = EVENT_FILE_PATTERN.exec(name);
    if (m === null) ignored.push(`${EVENTS_DIR}/${name}`);
    else numbered.push(Number(m[1]));
  }
  if (numbered.length > MAX_EVENT_FILES)
    throw verifyFailed(
      'AUDIT_EXPORT_TOO_LARGE',
      `${EVENTS_DIR}/ holds ${numbered.length} event files, more than the ${MAX_EVENT_FILES} allowed.`,
    );
  numbered.sort((a, b) => a - b);
  numbered.forEach((n, i) => {
    if (n !== i)
      throw verifyFailed(
        'AUDIT_EVENT_FILE_MISSING',
        `${EVENTS_DIR}/${eventFileName(i)} is missing (${EVENTS_DIR}/${eventFileName(n)} exists): the events in it were deleted.`,
        { file: `${EVENTS_DIR}/${eventFileName(i)}` },
      );
  });
  return { files: numbered.map((n) => `${EVENTS_DIR}/${eventFileName(n)}`), ignored };
}

const FAST_SEQ = /^\{"v":\d+,"seq":(\d{1,16})[,}]/;

/** The `seq` field of an event line (undefined when the line is not an event). */
function seqOf(line: Buffer): number | undefined {
  const fast = FAST_SEQ.exec(line.subarray(0, 48).toString('latin1'));
  if (fast !== null) return Number(fast[1]);
  try {
    const value = JSON.parse(line.toString('utf8')) as unknown;
    const seq = (value as { seq?: unknown } | null)?.seq;
    return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies an export in DIR. Returns the counts, or throws a CliError with
 * exit code 9 naming the first bad file, line, event or checkpoint.
 */
export async function verifyExport(dir: string, options: VerifyExportOptions = {}): Promise<VerifyExportResult> {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new CliError('FILE_UNREADABLE', `${dir} is not a folder holding an audit export.`, EXIT.INVALID);

  const key = loadKey(dir, options.key);
  // A kept checkpoint is checked against the trusted key first: if it does not verify, the export is of another log.
  let kept: Checkpoint | undefined;
  if (options.keptCheckpoint !== undefined) {
    try {
      kept = parseAndVerifyCheckpoint(options.keptCheckpoint, key.verifier);
    } catch (err) {
      throw verifyFailed(
        'AUDIT_KEPT_CHECKPOINT_INVALID',
        `The kept checkpoint does not verify with the ${key.source === '--key' ? 'trusted key (--key)' : "export's key"} ` +
          `(${reason(err)}): the export is signed by another key than the log whose checkpoint you kept, or the kept note was altered.`,
        isSightlineError(err) ? { cause: err.code } : undefined,
        err,
      );
    }
  }
  const { notes, cps } = loadCheckpoints(dir, key.verifier);
  const consistencyProofs = checkConsistency(dir, cps);
  const { files, ignored } = listEventFiles(dir);
  const base = loadBase(dir);
  const baseSize = base?.size ?? 0;
  if (kept !== undefined && kept.size < baseSize)
    throw verifyFailed(
      'AUDIT_KEPT_CHECKPOINT_PRUNED',
      `The kept checkpoint (size ${kept.size}) is older than this export's first event (${baseSize}): retention dropped the events it covers. ` +
        `Verify it against the earlier export that holds them; that export's last checkpoint is this one's first.`,
      { keptSize: kept.size, baseSize },
    );

  // File boundaries, to turn a position into file:line.
  const starts: number[] = [];
  const locate = (position: number): string => {
    for (let f = starts.length - 1; f >= 0; f--) {
      const start = starts[f] as number;
      if (position >= start) return `${files[f]}:${position - start + 1}`;
    }
    return `position ${position}`;
  };
  // The kept checkpoint's tree continues from the compact range (checked against the cut checkpoint below).
  let keptTree: TreeBuilder;
  try {
    keptTree = base === undefined ? new TreeBuilder() : TreeBuilder.fromCompactRange(base.size, base.compactRange);
  } catch (err) {
    throw verifyFailed('AUDIT_BASE_INVALID', `${BASE_FILE}: ${reason(err)}.`, { file: BASE_FILE }, err);
  }
  let cutRecorded = baseSize === 0;
  let position = baseSize;
  function* events(): Generator<Uint8Array> {
    for (const file of files) {
      starts.push(position);
      let lineNo = 0;
      for (const line of readLines(join(dir, file), file, MAX_EVENT_LINE_BYTES)) {
        lineNo++;
        const where = `${file}:${lineNo}`;
        const seq = seqOf(line);
        if (seq === undefined)
          throw verifyFailed(
            'AUDIT_EVENT_MALFORMED',
            `${where} (event ${position}) is not an audit event with a seq field: it was altered or inserted.`,
            {
              file,
              line: lineNo,
              position,
            },
          );
        if (seq !== position) {
          const message =
            seq > position
              ? `${where} holds event ${seq} where event ${position} belongs: ` +
                (seq === position + 1 ? `event ${position} was dropped` : `events ${position} to ${seq - 1} were dropped`) +
                ' (or moved further down).'
              : `${where} holds event ${seq} where event ${position} belongs: an event was inserted, duplicated or moved here.`;
          throw verifyFailed('AUDIT_EVENT_SEQUENCE', message, { file, line: lineNo, position, seq });
        }
        if (kept !== undefined && position < kept.size) keptTree.append(line);
        if (!cutRecorded) cutRecorded = recordsRetentionCut(line, baseSize);
        position++;
        yield line;
      }
    }
  }

  let result;
  try {
    result = await verifyAuditLog({
      events: events(),
      checkpoints: notes,
      verifier: key.verifier,
      ...(base === undefined ? {} : { base }),
    });
  } catch (err) {
    if (!(err instanceof AuditVerifyError)) throw err;
    const d = err.details ?? {};
    const cpIndex = typeof d['checkpoint'] === 'number' ? d['checkpoint'] : undefined;
    const cpWhere =
      (err.code.startsWith('AUDIT_BASE_') ? ` [${BASE_FILE}]` : '') +
      (cpIndex === undefined ? '' : ` [${CHECKPOINTS_FILE}:${cpIndex + 1}]`);
    const first = typeof d['firstEvent'] === 'number' ? d['firstEvent'] : undefined;
    const last = typeof d['lastEvent'] === 'number' ? d['lastEvent'] : undefined;
    let where = '';
    if (first !== undefined && first < position)
      where =
        last !== undefined && last !== first
          ? ` [${locate(first)} to ${last < position ? locate(last) : 'the end'}]`
          : ` [${locate(first)}]`;
    throw verifyFailed(err.code, `${err.message.replace(/\.$/, '')}.${where}${cpWhere}`, { ...d }, err);
  }

  // The server records each cut as an audit:Prune event after it: an export that starts at a cut
  // no kept event names lost its first events some other way.
  if (!cutRecorded)
    throw verifyFailed(
      'AUDIT_BASE_UNRECORDED',
      `The export starts at event ${baseSize} (${BASE_FILE}), but no event in it records a retention cut there: ` +
        `events 0 to ${baseSize - 1} were removed outside retention.`,
      { file: BASE_FILE, baseSize },
    );

  let keptResult: VerifyExportResult['keptCheckpoint'];
  if (kept !== undefined) {
    if (kept.size > result.treeSize)
      throw verifyFailed(
        'AUDIT_HISTORY_REWRITTEN',
        `The kept checkpoint covers ${kept.size} events but the export ends at ${result.treeSize}: ` +
          'events the log had signed were dropped, or its history was rewritten after you kept that checkpoint.',
        { keptSize: kept.size, events: result.events },
      );
    const root = kept.size === 0 ? emptyRoot() : keptTree.root();
    if (!Buffer.from(root).equals(Buffer.from(kept.rootHash)))
      throw verifyFailed(
        'AUDIT_HISTORY_REWRITTEN',
        `The export's first ${kept.size} events do not reproduce the root of the kept checkpoint (size ${kept.size}): ` +
          `the history was rewritten after you kept that checkpoint [events ${locate(baseSize)} to ${kept.size > baseSize ? locate(kept.size - 1) : locate(baseSize)}].`,
        { keptSize: kept.size },
      );
    keptResult = { size: kept.size, rootHash: b64(kept.rootHash) };
  }

  const manifestText = readSmallFile(join(dir, MANIFEST_FILE), MANIFEST_FILE);
  if (manifestText !== undefined) {
    const m = parseJsonObject(manifestText, MANIFEST_FILE);
    for (const [field, actual] of [
      ['events', result.events],
      ['checkpoints', result.checkpoints],
    ] as const) {
      if (m[field] !== undefined && m[field] !== actual)
        throw verifyFailed(
          'AUDIT_EXPORT_INCOMPLETE',
          `${MANIFEST_FILE} lists ${JSON.stringify(m[field])} ${field} but the export holds ${actual}: files were added or removed after the export.`,
          { file: MANIFEST_FILE },
        );
    }
  }

  return {
    verified: true,
    events: result.events,
    baseSize: result.baseSize,
    treeSize: result.treeSize,
    eventFiles: files.length,
    checkpoints: result.checkpoints,
    consistencyProofs,
    signedSize: result.signedSize,
    rootHash: b64(result.root),
    origin: key.verifier.name,
    verifierKey: key.vkey,
    keySource: key.source,
    ...(keptResult === undefined ? {} : { keptCheckpoint: keptResult }),
    ignoredFiles: ignored,
  };
}

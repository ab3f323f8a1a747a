import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { z } from 'zod';
import {
  hashLeaf,
  isSightlineError,
  parseAndVerifyCheckpoint,
  parseVerifierKey,
  verifyInclusion,
  type Checkpoint,
  type NoteVerifier,
} from '@sightline/core';
import type { ApiClient } from '../client/api-client.js';
import { CliError, EXIT } from '../errors.js';
import { readTextFile } from '../files.js';
import { shellQuote, type CliContext, type JsonOption } from '../context.js';
import { notice, printFields, printJson, printLine, printTable, printable } from '../output/print.js';
import {
  BASE_FILE,
  CHECKPOINTS_FILE,
  CONSISTENCY_FILE,
  EVENTS_DIR,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  LINES_PER_FILE,
  MANIFEST_FILE,
  MAX_EVENT_LINE_BYTES,
  PUBLIC_KEY_FILE,
  eventFileName,
  verifyFailed,
} from '../audit/export-format.js';
import { verifyExport } from '../audit/verify-export.js';
import { intInRange } from './apikey.js';

const AUDIT = '/api/v1/audit';

const publicKeyResponse = z.object({ origin: z.string(), verifierKey: z.string(), publicKeyPem: z.string() });
const eventSummary = z
  .object({
    time: z.string().optional(),
    principal: z.object({ type: z.string().optional(), id: z.string().optional(), name: z.string().optional() }).partial().optional(),
    project: z.string().optional(),
    action: z.string().optional(),
    resource: z.string().optional(),
    outcome: z.string().optional(),
    errorCode: z.string().nullable().optional(),
  })
  .passthrough();
const eventsResponse = z.object({ events: z.array(z.object({ seq: z.number(), event: z.unknown() })), next: z.number().nullable() });
const linesResponse = z.object({ lines: z.array(z.object({ seq: z.number(), line: z.string() })) });
const checkpointsResponse = z.object({ checkpoints: z.array(z.object({ size: z.number(), note: z.string() }).passthrough()), next: z.number().nullable().optional() });
const chainResponse = z.object({ proofs: z.array(z.object({ from: z.number(), to: z.number(), proof: z.array(z.string()) })), next: z.number().nullable() });
const checkpointResponse = z.object({ size: z.number(), note: z.string() });
const proofResponse = z.object({
  seq: z.number(),
  line: z.string(),
  leafHash: z.string(),
  treeSize: z.number(),
  proof: z.array(z.string()),
  checkpoint: z.string(),
});
const verifyResponse = z.object({
  events: z.number(),
  baseSize: z.number().default(0),
  treeSize: z.number().optional(),
  checkpoints: z.number(),
  signedSize: z.number(),
});
const baseResponse = z.object({ size: z.number(), compactRange: z.array(z.string()), checkpoint: z.string().nullable() }).passthrough();
const pruneResponse = z.object({ pruned: z.boolean(), dropped: z.number(), reason: z.string().optional(), base: baseResponse });

const b64 = (h: Uint8Array): string => Buffer.from(h).toString('base64');
const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\.$/, '');

/** `--since`/`--until`: any date `Date.parse` reads (2026-05-01, 2026-05-01T12:00:00Z), sent as ISO 8601. */
function isoTime(value: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidArgumentError('Give a date or time, e.g. 2026-05-01 or 2026-05-01T12:00:00Z.');
  return new Date(t).toISOString();
}

/**
 * A trusted verifier key from `--key`: the vkey itself, or a file holding it
 * (a public-key.json from a trusted source, or the vkey as text).
 */
export function trustedKey(value: string): string {
  const direct = value.trim();
  try {
    parseVerifierKey(direct);
    return direct;
  } catch {
    // not a vkey; maybe a file
  }
  if (!existsSync(value))
    throw new CliError('KEY_INVALID', '--key is neither a verifier key (NAME+ID+KEY) nor a file holding one.', EXIT.USAGE);
  const text = readTextFile(value, 'the verifier key', 64 * 1024).trim();
  let vkey = text;
  if (text.startsWith('{')) {
    try {
      const v = (JSON.parse(text) as { verifierKey?: unknown }).verifierKey;
      vkey = typeof v === 'string' ? v : '';
    } catch {
      vkey = '';
    }
  }
  try {
    parseVerifierKey(vkey);
  } catch (err) {
    throw new CliError('KEY_INVALID', `${value} holds no valid verifier key: ${reason(err)}.`, EXIT.USAGE, { cause: err });
  }
  return vkey;
}

/** The key to check the server's answers with: `--key` when given, else the server's own published key. */
async function keyFor(
  client: ApiClient,
  key: string | undefined,
): Promise<{ vkey: string; verifier: NoteVerifier; source: '--key' | 'server' }> {
  const vkey = key ?? (await client.request('GET', `${AUDIT}/public-key`, { schema: publicKeyResponse })).verifierKey;
  try {
    return { vkey, verifier: parseVerifierKey(vkey), source: key === undefined ? 'server' : '--key' };
  } catch (err) {
    throw verifyFailed('AUDIT_KEY_INVALID', `The server's verifier key is not valid: ${reason(err)}.`, undefined, err);
  }
}

const SERVER_KEY_NOTE =
  'The key came from the same server; pass --key with the key from an earlier export or another trusted source to rule out a server that lies about its key.';

function checkpointOrFail(note: string, verifier: NoteVerifier, what: string): Checkpoint {
  try {
    return parseAndVerifyCheckpoint(note, verifier);
  } catch (err) {
    throw verifyFailed(
      'AUDIT_CHECKPOINT_INVALID',
      `${what} does not verify with the log's key${isSightlineError(err) ? ` (${err.code})` : ''}: ${reason(err)}.`,
      undefined,
      err,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// audit list

interface ListOptions extends JsonOption {
  since?: string;
  until?: string;
  principal?: string;
  action?: string;
  resource?: string;
  outcome?: string;
  project?: string;
  after?: number;
  limit: number;
}

async function list(ctx: CliContext, opts: ListOptions): Promise<void> {
  const client = ctx.client();
  const base = new URLSearchParams();
  for (const [name, value] of [
    ['from', opts.since],
    ['to', opts.until],
    ['principal', opts.principal],
    ['action', opts.action],
    ['resource', opts.resource],
    ['outcome', opts.outcome],
    ['project', opts.project],
  ] as const) {
    if (value !== undefined) base.set(name, value);
  }
  const events: { seq: number; event: unknown }[] = [];
  let after = opts.after;
  let next: number | null = null;
  while (events.length < opts.limit) {
    const q = new URLSearchParams(base);
    q.set('limit', String(Math.min(1000, opts.limit - events.length)));
    if (after !== undefined) q.set('after', String(after));
    const page = await client.request('GET', `${AUDIT}/events?${q.toString()}`, { schema: eventsResponse });
    events.push(...page.events);
    next = page.next;
    if (next === null || page.events.length === 0) break;
    after = next;
  }
  // The server answers `next` when a page was full; more may match.
  const more = events.length >= opts.limit && next !== null ? next : null;
  if (opts.json === true) return printJson({ events, next: more });
  printTable(
    events.map(({ seq, event }) => {
      const e = eventSummary.safeParse(event);
      const v = e.success ? e.data : {};
      const p = v.principal;
      return {
        seq,
        time: v.time,
        principal: p === undefined ? undefined : p.name !== undefined && p.name !== '' ? `${p.type ?? ''}:${p.name}` : p.type,
        action: v.action,
        resource: v.resource,
        outcome: v.errorCode === null || v.errorCode === undefined ? v.outcome : `${v.outcome ?? ''} (${v.errorCode})`,
      };
    }),
    ['seq', 'time', 'principal', 'action', 'resource', 'outcome'],
  );
  if (more !== null) notice(`More events may match; show the next ones with --after ${more} (or raise --limit).`);
}

// ---------------------------------------------------------------------------------------------
// audit prove

async function prove(ctx: CliContext, seq: number, opts: JsonOption & { key?: string }): Promise<void> {
  const client = ctx.client();
  const [res, key] = await Promise.all([
    client.request('GET', `${AUDIT}/events/${seq}/proof`, { schema: proofResponse }),
    keyFor(client, opts.key),
  ]);
  const fail = (code: string, message: string): CliError => verifyFailed(code, `Event ${seq}: ${message}`, { seq });
  const line = Buffer.from(res.line, 'utf8');
  if (line.length > MAX_EVENT_LINE_BYTES) throw fail('AUDIT_PROOF_INVALID', `the event line is longer than ${MAX_EVENT_LINE_BYTES} bytes.`);
  let lineSeq: unknown;
  try {
    lineSeq = (JSON.parse(res.line) as { seq?: unknown }).seq;
  } catch {
    lineSeq = undefined;
  }
  if (res.seq !== seq || lineSeq !== seq)
    throw fail('AUDIT_PROOF_INVALID', `the server answered with event ${JSON.stringify(lineSeq ?? res.seq)} instead.`);
  const leafHash = hashLeaf(line);
  if (b64(leafHash) !== res.leafHash)
    throw fail('AUDIT_PROOF_INVALID', "the leaf hash the server sent is not the hash of the event's line.");
  const cp = checkpointOrFail(res.checkpoint, key.verifier, 'The checkpoint the server proved against');
  if (cp.size !== res.treeSize)
    throw fail('AUDIT_PROOF_INVALID', `the proof is for a tree of ${res.treeSize} events but the checkpoint is of size ${cp.size}.`);
  const proof = res.proof.map((h) => Buffer.from(h, 'base64'));
  try {
    verifyInclusion(seq, cp.size, leafHash, proof, cp.rootHash);
  } catch (err) {
    throw fail('AUDIT_PROOF_INVALID', `the inclusion proof does not lead to the signed root: ${reason(err)}.`);
  }
  const event = eventSummary.safeParse(JSON.parse(res.line));
  const result = {
    verified: true,
    seq,
    leafIndex: seq,
    treeSize: cp.size,
    leafHash: b64(leafHash),
    proof: res.proof,
    rootHash: b64(cp.rootHash),
    origin: cp.origin,
    checkpoint: res.checkpoint,
    verifierKey: key.vkey,
    keySource: key.source,
    line: res.line,
  };
  if (key.source === 'server') notice(SERVER_KEY_NOTE);
  if (opts.json === true) return printJson(result);
  const e = event.success ? event.data : {};
  printFields([
    [
      'event',
      `${e.time ?? ''} ${e.principal?.name ?? e.principal?.type ?? ''} ${e.action ?? ''} ${e.resource ?? ''} ${e.outcome ?? ''}`.trim(),
    ],
    ['leaf index', seq],
    ['tree size', cp.size],
    ['leaf hash', result.leafHash],
    ['root hash', result.rootHash],
    ['log', cp.origin],
    ['key', `${key.vkey} (${key.source === 'server' ? "the server's" : '--key'})`],
  ]);
  printLine(res.proof.length === 0 ? 'proof:      (empty: the event is the whole tree)' : 'proof:');
  for (const h of res.proof) printLine(`  ${printable(h)}`);
  printLine('verified');
}

// ---------------------------------------------------------------------------------------------
// audit checkpoint

async function checkpoint(ctx: CliContext, opts: JsonOption & { key?: string }): Promise<void> {
  const client = ctx.client();
  const [res, key] = await Promise.all([
    client.request('POST', `${AUDIT}/checkpoints`, { schema: checkpointResponse }),
    keyFor(client, opts.key),
  ]);
  const cp = checkpointOrFail(res.note, key.verifier, 'The new checkpoint');
  if (cp.size !== res.size) throw verifyFailed('AUDIT_CHECKPOINT_INVALID', `The server says size ${res.size} but signed size ${cp.size}.`);
  if (key.source === 'server') notice(SERVER_KEY_NOTE);
  if (opts.json === true) return printJson({ size: cp.size, rootHash: b64(cp.rootHash), origin: cp.origin, note: res.note });
  // The note is printed as is (verified: no control characters), so it can be kept with `> FILE`.
  process.stdout.write(res.note);
  notice(`Checkpoint of size ${cp.size}. Keep it; later check an export against it: sightline audit verify DIR --against-checkpoint FILE`);
}

// ---------------------------------------------------------------------------------------------
// audit export

interface ExportOptions extends JsonOption {
  out: string;
  linesPerFile: number;
}

/** Client for the export: bigger answers allowed (checkpoint lists grow with the log's age). */
const EXPORT_MAX_RESPONSE = 64 * 1024 * 1024;
const LINES_PAGE = 5000;

/** An empty or new folder to export into; never mixes with an earlier export. */
function prepareOut(out: string): void {
  if (!existsSync(out)) return;
  const st = statSync(out);
  if (!st.isDirectory() || readdirSync(out).length > 0)
    throw new CliError('FILE_EXISTS', `${out} exists and is not an empty folder; export into a new folder.`, EXIT.CONFLICT);
}

/** Pages through /audit/lines; halves the page when a page of long lines is over the response cap. */
async function fetchLines(client: ApiClient, after: number, limit: number): Promise<{ seq: number; line: string }[]> {
  for (let n = limit; ; n = Math.max(1, Math.floor(n / 2))) {
    try {
      return (await client.request('GET', `${AUDIT}/lines?after=${after}&limit=${n}`, { schema: linesResponse })).lines;
    } catch (err) {
      if (!(err instanceof CliError && err.code === 'RESPONSE_TOO_LARGE') || n === 1) throw err;
    }
  }
}

async function exportAudit(ctx: CliContext, opts: ExportOptions): Promise<void> {
  const out = resolve(opts.out);
  prepareOut(out);
  const client = ctx.client({ maxResponseBytes: EXPORT_MAX_RESPONSE });
  const tmp = join(dirname(out), `.${basename(out)}.partial-${randomBytes(4).toString('hex')}`);
  const progress = process.stderr.isTTY === true;
  let fh: FileHandle | undefined;
  try {
    mkdirSync(join(tmp, EVENTS_DIR), { recursive: true, mode: 0o700 });
    const pk = await client.request('GET', `${AUDIT}/public-key`, { schema: publicKeyResponse });
    let verifier: NoteVerifier;
    try {
      verifier = parseVerifierKey(pk.verifierKey);
    } catch (err) {
      throw verifyFailed('AUDIT_KEY_INVALID', `The server's verifier key is not valid: ${reason(err)}.`, undefined, err);
    }
    // A fresh checkpoint first, so that the export ends on a signed size.
    const head = await client.request('POST', `${AUDIT}/checkpoints`, { schema: checkpointResponse });
    const last = checkpointOrFail(head.note, verifier, 'The checkpoint the server just signed');
    const total = last.size;
    // After a retention cut the log starts at base.size; the compact range stands for the rest.
    const base = await client.request('GET', `${AUDIT}/base`, { schema: baseResponse });
    if (base.size > total)
      throw verifyFailed('AUDIT_EXPORT_INCOMPLETE', `The server's cut (${base.size}) is past its newest checkpoint (${total}); run "sightline audit verify --server".`);

    // Events: exactly the leaves [base.size, total).
    const files: string[] = [];
    let written = base.size;
    let inFile = 0;
    let lastShown = 0;
    const show = (): void => {
      if (progress) process.stderr.write(`\rexported ${written} / ${total} events`);
    };
    while (written < total) {
      const batch = await fetchLines(client, written - 1, Math.min(LINES_PAGE, total - written));
      if (batch.length === 0)
        throw verifyFailed(
          'AUDIT_EXPORT_INCOMPLETE',
          `The server sent ${written} events but its checkpoint covers ${total}; run "sightline audit verify --server".`,
        );
      let chunk = '';
      const flush = async (): Promise<void> => {
        if (chunk !== '' && fh !== undefined) await fh.write(chunk);
        chunk = '';
      };
      for (const { seq, line } of batch) {
        if (written >= total) break;
        if (seq !== written)
          throw verifyFailed(
            'AUDIT_EXPORT_INCOMPLETE',
            `The server sent event ${seq} where event ${written} belongs; the live store may be damaged: run "sightline audit verify --server".`,
          );
        if (line.includes('\n'))
          throw verifyFailed('AUDIT_EXPORT_INCOMPLETE', `Event ${seq} from the server holds a line break; it cannot be a stored leaf.`);
        if (fh === undefined || inFile === opts.linesPerFile) {
          await flush();
          await fh?.close();
          const name = eventFileName(files.length);
          files.push(`${EVENTS_DIR}/${name}`);
          fh = await open(join(tmp, EVENTS_DIR, name), 'wx', 0o600);
          inFile = 0;
        }
        chunk += `${line}\n`;
        inFile++;
        written++;
      }
      await flush();
      if (written - lastShown >= 10_000 || written === total) {
        lastShown = written;
        show();
      }
    }
    await fh?.close();
    fh = undefined;
    if (progress && total > base.size) process.stderr.write('\n');

    // Checkpoints up to the export's size, and consistency proofs between consecutive ones, a page at a time.
    const all: { size: number; note: string }[] = [];
    for (let after = -1; ; ) {
      const page = await client.request('GET', `${AUDIT}/checkpoints?after=${after}&limit=10000`, { schema: checkpointsResponse });
      all.push(...page.checkpoints);
      if (page.next === null || page.next === undefined || page.next >= total) break;
      after = page.next;
    }
    const cps = all.filter((c) => c.size <= total).map((c) => ({ size: c.size, note: c.note }));
    if (cps.at(-1)?.size !== total) cps.push({ size: head.size, note: head.note });
    const proofs: { from: number; to: number; proof: string[] }[] = [];
    for (let after = -1; ; ) {
      const page = await client.request('GET', `${AUDIT}/consistency-chain?after=${after}&limit=1000`, { schema: chainResponse });
      proofs.push(...page.proofs.filter((p) => p.to <= total));
      if (page.next === null || page.next >= total) break;
      after = page.next;
    }
    writeFileSync(join(tmp, CHECKPOINTS_FILE), cps.map((c) => `${JSON.stringify(c)}\n`).join(''), { mode: 0o600 });
    writeFileSync(join(tmp, CONSISTENCY_FILE), proofs.map((p) => `${JSON.stringify(p)}\n`).join(''), { mode: 0o600 });
    writeFileSync(join(tmp, PUBLIC_KEY_FILE), `${JSON.stringify(pk, null, 2)}\n`, { mode: 0o600 });
    if (base.size > 0)
      writeFileSync(
        join(tmp, BASE_FILE),
        `${JSON.stringify({ size: base.size, compactRange: base.compactRange, checkpoint: base.checkpoint }, null, 2)}\n`,
        { mode: 0o600 },
      );
    const manifest = {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      exportedAt: new Date().toISOString(),
      server: client.url,
      origin: pk.origin,
      events: total - base.size,
      firstEvent: base.size,
      treeSize: total,
      checkpoints: cps.length,
      consistencyProofs: proofs.length,
      linesPerFile: opts.linesPerFile,
      eventFiles: files,
      lastCheckpoint: { size: last.size, rootHash: b64(last.rootHash) },
    };
    writeFileSync(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    if (existsSync(out)) rmdirSync(out); // prepareOut saw it empty
    renameSync(tmp, out);
    // The receipt tells the server this period is held elsewhere; only then may retention drop it.
    let receipt = true;
    try {
      await client.request('POST', `${AUDIT}/exports`, { body: { from: base.size, size: total, checkpoint: head.note } });
    } catch (err) {
      receipt = false;
      notice(`warning: the export is complete, but the server did not record it (${reason(err)}); retention will not drop these events.`);
    }
    if (opts.json === true) return printJson({ dir: out, ...manifest, receiptRecorded: receipt });
    if (base.size > 0)
      printLine(`Events 0 to ${base.size - 1} were dropped by retention earlier; this export starts at event ${base.size}, from the signed checkpoint at the cut.`);
    printLine(
      `Exported ${total - base.size} events in ${files.length} file${files.length === 1 ? '' : 's'}, ${cps.length} checkpoints and ` +
        `${proofs.length} consistency proofs to ${out}; the export ends on the checkpoint of size ${total}.`,
    );
    printLine(`Verify it offline with: sightline audit verify ${shellQuote(out)} --key ${shellQuote(pk.verifierKey)}`);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    if (progress) process.stderr.write('\n');
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// audit prune

async function prune(ctx: CliContext, opts: JsonOption): Promise<void> {
  const r = await ctx.client().request('POST', `${AUDIT}/prune`, { schema: pruneResponse });
  if (opts.json === true) return printJson(r);
  if (r.pruned) printLine(`Dropped ${r.dropped} exported events; the log now starts at event ${r.base.size}, from the signed checkpoint at the cut.`);
  else printLine(`Nothing dropped: ${r.reason ?? 'no exported period is old enough'}`);
}

const retentionLine = (base: number): string =>
  `Events 0 to ${base - 1} were dropped by retention; the kept events start at ${base} and verify from the signed checkpoint ` +
  'at the cut and the compact range of the dropped ones.';

// ---------------------------------------------------------------------------------------------
// audit verify

interface VerifyOptions extends JsonOption {
  server?: boolean;
  key?: string;
  againstCheckpoint?: string;
}

function readKeptCheckpoint(path: string): string {
  const text = readTextFile(path, 'the kept checkpoint', 64 * 1024);
  if (!text.trimStart().startsWith('{')) return text;
  try {
    const note = (JSON.parse(text) as { note?: unknown }).note;
    if (typeof note === 'string') return note;
  } catch {
    // fall through
  }
  throw new CliError('FILE_INVALID', `${path} holds neither a checkpoint note nor JSON with a "note".`, EXIT.INVALID);
}

async function verify(ctx: CliContext, dir: string | undefined, opts: VerifyOptions): Promise<void> {
  if (opts.server === true) {
    if (dir !== undefined || opts.key !== undefined || opts.againstCheckpoint !== undefined)
      throw new CliError('USAGE', '--server verifies the live store; give it without DIR, --key or --against-checkpoint.', EXIT.USAGE);
    const r = await ctx.client().request('POST', `${AUDIT}/verify`, { schema: verifyResponse });
    if (opts.json === true) return printJson({ verified: true, source: 'server', ...r });
    const end = r.baseSize + r.events;
    printLine(
      `The live store verified: ${r.events} events reproduce all ${r.checkpoints} checkpoints (signed size ${r.signedSize}` +
        `${end > r.signedSize ? `; the last ${end - r.signedSize} await the next checkpoint` : ''}).`,
    );
    if (r.baseSize > 0) printLine(retentionLine(r.baseSize));
    return;
  }
  if (dir === undefined) throw new CliError('USAGE', 'Give the export folder DIR, or --server to verify the live store.', EXIT.USAGE);
  const key = opts.key === undefined ? undefined : trustedKey(opts.key);
  const kept = opts.againstCheckpoint === undefined ? undefined : readKeptCheckpoint(opts.againstCheckpoint);
  let result;
  try {
    result = await verifyExport(resolve(dir), {
      ...(key === undefined ? {} : { key }),
      ...(kept === undefined ? {} : { keptCheckpoint: kept }),
    });
  } catch (err) {
    if (opts.json === true && err instanceof CliError && err.exitCode === EXIT.VERIFY_FAILED)
      printJson({ verified: false, error: { code: err.code, message: err.message, details: err.details ?? {} } });
    throw err;
  }
  for (const f of result.ignoredFiles) notice(`warning: ${f} is not an event file and was not read.`);
  if (result.keySource === 'export')
    notice(
      "warning: the key came from the export itself, which proves only that the export is self-consistent; pass --key with the log's key from a trusted source.",
    );
  if (opts.json === true) return printJson(result);
  printLine(
    `Verified ${result.events} events (${result.eventFiles} file${result.eventFiles === 1 ? '' : 's'}) against ${result.checkpoints} ` +
      `signed checkpoints and ${result.consistencyProofs} consistency proofs; nothing was changed, dropped, inserted or reordered.`,
  );
  if (result.baseSize > 0) printLine(retentionLine(result.baseSize));
  if (result.keptCheckpoint !== undefined)
    printLine(`The export extends the kept checkpoint of size ${result.keptCheckpoint.size}: no history before it was rewritten.`);
  printLine(`Log ${result.origin}, root ${result.rootHash} at size ${result.signedSize}.`);
}

// ---------------------------------------------------------------------------------------------

const VERIFY_HELP = `
Offline: reads only DIR (and --key, --against-checkpoint); no server, no sign-in.
It recomputes the RFC 9162 Merkle tree from the events, checks every checkpoint
signature and every consistency proof, and checks that each event's seq is its
position, so that it names the first dropped, inserted or moved event.

Exit status: 0 when everything verifies (the count of events is printed),
9 when anything fails (the message names the file and line, event or checkpoint);
other codes mean the check itself could not run.

Examples:
  sightline audit verify ./audit-2026-05 --key 'sightline.local/audit/x+1a2b3c4d+AbC…'
  sightline audit verify ./audit-2026-05 --against-checkpoint kept-checkpoint.txt
  sightline audit verify --server`;

const EXPORT_HELP = `
Writes DIR/events/000000.jsonl… (the exact leaf lines), DIR/checkpoints.jsonl,
DIR/consistency.jsonl, DIR/public-key.json and DIR/manifest.json. The server
signs a fresh checkpoint first and the export ends exactly on it.

Example:
  sightline audit export --out ./audit-2026-05 && sightline audit verify ./audit-2026-05 --key "$VKEY"`;

const PRUNE_HELP = `
The server keeps every event unless audit.retentionDays is set. Then a period may
be dropped once it is older than that and an export ("sightline audit export",
which records a receipt) holds it; the cut is always at a signed checkpoint. The
checkpoint at the cut and the compact range of the dropped events are kept, so
"audit verify --server" and later exports still verify. The server runs this job
hourly; this command runs it now.

Example:
  sightline audit export --out ./audit-2026-05 && sightline audit prune`;

export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program.command('audit').description('the audit trail: list events, prove one, export and verify the signed Merkle log');

  audit
    .command('list')
    .description('lists audit events, oldest first, with filters')
    .option('--since <TIME>', 'events at or after this time (e.g. 2026-05-01 or 2026-05-01T12:00:00Z)', isoTime)
    .option('--until <TIME>', 'events before this time', isoTime)
    .option('--principal <NAME>', 'events by this user, API key or device (its name)')
    .option('--action <ACTION>', 'e.g. device:Reboot')
    .option('--resource <SRN>', 'e.g. srn:sightline:default:device/cam-01')
    .addOption(new Option('--outcome <OUTCOME>', 'allowed, denied or failed').choices(['allowed', 'denied', 'failed']))
    .option('--project <PROJECT>', 'events of this project (default: all)')
    .option('--after <SEQ>', 'events after this seq (to continue a listing)', intInRange(0, Number.MAX_SAFE_INTEGER))
    .option('--limit <N>', 'show at most N events (default 100)', intInRange(1, 1_000_000), 100)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  sightline audit list --outcome denied --since 2026-05-01 --principal alice')
    .action((opts: ListOptions) => list(ctx, opts));

  audit
    .command('prove')
    .argument('<seq>', 'the event number (SEQ in "audit list")', intInRange(0, Number.MAX_SAFE_INTEGER))
    .description('fetches an inclusion proof of one event and verifies it here against the signed checkpoint')
    .option('--key <VKEY|FILE>', "the log's verifier key from a trusted source (default: the server's published key)")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExit status: 0 and "verified" when the proof holds, 9 when it does not.')
    .action((seq: number, opts: JsonOption & { key?: string }) =>
      prove(ctx, seq, { ...opts, ...(opts.key === undefined ? {} : { key: trustedKey(opts.key) }) }),
    );

  audit
    .command('checkpoint')
    .description('has the server sign a checkpoint now and prints the note; keep it to check later exports against it')
    .option('--key <VKEY|FILE>', "the log's verifier key from a trusted source (default: the server's published key)")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  sightline audit checkpoint > checkpoint-$(date +%F).txt')
    .action((opts: JsonOption & { key?: string }) =>
      checkpoint(ctx, { ...opts, ...(opts.key === undefined ? {} : { key: trustedKey(opts.key) }) }),
    );

  audit
    .command('export')
    .description('exports the whole log with its checkpoints, consistency proofs and public key, for offline verification')
    .requiredOption('--out <DIR>', 'a new or empty folder')
    .option('--lines-per-file <N>', `events per file (default ${LINES_PER_FILE})`, intInRange(1, 10_000_000), LINES_PER_FILE)
    .option('--json', 'print the manifest as JSON')
    .addHelpText('after', EXPORT_HELP)
    .action((opts: ExportOptions) => exportAudit(ctx, opts));

  audit
    .command('prune')
    .description('runs the retention job now: drops exported periods older than audit.retentionDays, never an unexported one')
    .option('--json', 'print JSON')
    .addHelpText('after', PRUNE_HELP)
    .action((opts: JsonOption) => prune(ctx, opts));

  audit
    .command('verify')
    .argument('[dir]', 'an export made by "sightline audit export"')
    .description('verifies an export offline (or the live store with --server); exits 9 on any change')
    .option('--key <VKEY|FILE>', "the log's verifier key from a trusted source; the export's own key must equal it")
    .option('--against-checkpoint <FILE>', 'a checkpoint note kept earlier: the export must extend it')
    .option('--server', 'verify the live store on the server instead')
    .option('--json', 'print JSON')
    .addHelpText('after', VERIFY_HELP)
    .action((dir: string | undefined, opts: VerifyOptions) => verify(ctx, dir, opts));
}

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MemoryHashStore,
  compactRange,
  consistencyProof,
  generateNoteKey,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  treeHash,
} from '@sightline/core';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { adminEnv, json, runCli, runCliMany, startCliServer, stopCliServer, type Result } from './cli-process.js';

/**
 * `sightline audit`: list, prove, checkpoint, export, and offline verify with
 * every kind of forgery an export can suffer.
 */

const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-audit-'));
let s: TestServer;
let env: Record<string, string>;
const cli = (args: string[]): Promise<Result> => runCli(args, env);
/** Offline: no server settings at all. */
const offline = (args: string[]): Promise<Result> => runCli(args, { SIGHTLINE_CONFIG_DIR: join(tmp, 'none') });

before(async () => {
  ({ s, env } = await startCliServer(tmp));
  const token = env['SIGHTLINE_TOKEN'];
  // Some events to list and export: reads are audited too.
  for (let i = 0; i < 12; i++) await s.call('GET', '/api/v1/projects', undefined, token);
  await s.call('GET', '/api/v1/users', undefined, 'sls_not-a-token');
});
after(() => stopCliServer(s, tmp));

/** Rewrites a JSON Lines file line by line. */
function editLines(file: string, edit: (lines: string[]) => string[]): void {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'));
  writeFileSync(
    file,
    edit(text.slice(0, -1).split('\n'))
      .map((l) => `${l}\n`)
      .join(''),
  );
}

const eventLines = (dir: string): string[] =>
  readdirSync(join(dir, 'events'))
    .sort()
    .flatMap((f) =>
      readFileSync(join(dir, 'events', f), 'utf8')
        .slice(0, -1)
        .split('\n'),
    );

/** A complete export of `lines` signed with `skey` at `sizes`, as a forger with their own key would write it. */
async function forgeExport(
  dir: string,
  lines: readonly string[],
  keys: { signerKey: string; verifierKey: string },
  sizes: number[],
): Promise<string[]> {
  const signer = parseSignerKey(keys.signerKey);
  const origin = parseVerifierKey(keys.verifierKey).name;
  const store = new MemoryHashStore();
  await store.append(...lines.map((l) => Buffer.from(l)));
  mkdirSync(join(dir, 'events'), { recursive: true });
  writeFileSync(join(dir, 'events', '000000.jsonl'), lines.map((l) => `${l}\n`).join(''));
  const notes = await Promise.all(
    sizes.map(async (size) => signCheckpoint({ origin, size, rootHash: await treeHash(store, size) }, signer)),
  );
  writeFileSync(join(dir, 'checkpoints.jsonl'), notes.map((note, i) => `${JSON.stringify({ size: sizes[i], note })}\n`).join(''));
  const proofs = await Promise.all(
    sizes.slice(1).map(async (to, i) => {
      const from = sizes[i] as number;
      const proof =
        from === 0 || from === to ? [] : (await consistencyProof(store, from, to)).map((h) => Buffer.from(h).toString('base64'));
      return `${JSON.stringify({ from, to, proof })}\n`;
    }),
  );
  writeFileSync(join(dir, 'consistency.jsonl'), proofs.join(''));
  const raw = Buffer.from(keys.verifierKey.slice(keys.verifierKey.indexOf('+', keys.verifierKey.indexOf('+') + 1) + 1), 'base64').subarray(
    1,
  );
  const publicKeyPem = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]),
    format: 'der',
    type: 'spki',
  })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  writeFileSync(join(dir, 'public-key.json'), JSON.stringify({ origin, verifierKey: keys.verifierKey, publicKeyPem }));
  return notes;
}

/** The same event with one field changed and its seq kept: what someone rewriting history would do. */
const rewrite = (line: string): string => JSON.stringify({ ...(JSON.parse(line) as object), outcome: 'denied', errorCode: 'REWRITTEN' });

test('audit list filters and pages; audit prove verifies an inclusion proof here, and refuses another key (exit 9)', async () => {
  const other = generateNoteKey('sightline.local/audit/impostor');
  const [page, logins, table, proved, provedJson, wrongKey, missing] = (await runCliMany(
    [
      ['audit', 'list', '--limit', '3', '--json'],
      ['audit', 'list', '--action', 'auth:Login', '--outcome', 'allowed', '--json'],
      ['audit', 'list', '--principal', 'admin', '--since', '2000-01-01', '--limit', '2'],
      ['audit', 'prove', '1'],
      ['audit', 'prove', '2', '--json'],
      ['audit', 'prove', '1', '--key', other.verifierKey],
      ['audit', 'prove', '999999'],
    ].map((args) => ({ args, env })),
  )) as [Result, Result, Result, Result, Result, Result, Result];
  assert.equal(page.code, 0, page.stderr);
  const p = json<{ events: { seq: number }[]; next: number | null }>(page);
  assert.deepEqual(
    p.events.map((e) => e.seq),
    [0, 1, 2],
  );
  assert.equal(p.next, 2);
  const l = json<{ events: { event: { action: string; outcome: string } }[] }>(logins);
  assert.ok(l.events.length >= 1);
  assert.ok(l.events.every((e) => e.event.action === 'auth:Login' && e.event.outcome === 'allowed'));
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^SEQ +TIME +PRINCIPAL +ACTION +RESOURCE +OUTCOME$/m);
  assert.equal(table.stdout.trim().split('\n').length, 3);
  assert.match(table.stdout, /user:admin +project:List/);
  assert.match(table.stderr, /More events may match; show the next ones with --after \d+/);

  assert.equal(proved.code, 0, proved.stderr);
  assert.match(proved.stdout, /^leaf index: +1$/m);
  assert.match(proved.stdout, /^tree size: +\d+$/m);
  assert.match(proved.stdout, /^proof:\n( {2}[A-Za-z0-9+/]{43}=\n)+verified\n$/m);
  const pj = json<{ verified: boolean; leafIndex: number; treeSize: number; proof: string[] }>(provedJson);
  assert.equal(pj.verified, true);
  assert.equal(pj.leafIndex, 2);
  assert.ok(pj.treeSize > 2);
  assert.equal(wrongKey.code, 9);
  assert.match(wrongKey.stderr, /^error AUDIT_CHECKPOINT_INVALID: .*CHECKPOINT_UNKNOWN_KEY/);
  assert.equal(missing.code, 5);
  assert.match(missing.stderr, /^error AUDIT_EVENT_NOT_FOUND: /);
});

test('audit export then verify passes offline; every forgery fails with exit 9 naming what is wrong', async () => {
  // A client keeps a checkpoint before the export.
  const exp = join(tmp, 'export');
  const [keptRun, exported, again] = (await runCliMany(
    [
      ['audit', 'checkpoint'],
      ['audit', 'export', '--out', exp, '--lines-per-file', '5', '--json'],
      ['audit', 'export', '--out', exp],
    ].map((args) => ({
      args,
      env,
    })),
  )) as [Result, Result, Result];
  assert.equal(keptRun.code, 0, keptRun.stderr);
  const keptFile = join(tmp, 'kept.note');
  writeFileSync(keptFile, keptRun.stdout);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(again.code, 6);
  assert.match(again.stderr, /^error FILE_EXISTS: /);
  const m = json<{ events: number; checkpoints: number; consistencyProofs: number; eventFiles: string[] }>(exported);
  const vkey = (JSON.parse(readFileSync(join(exp, 'public-key.json'), 'utf8')) as { verifierKey: string }).verifierKey;
  const origin = parseVerifierKey(vkey).name;
  const lines = eventLines(exp);
  assert.equal(lines.length, m.events);
  assert.ok(m.events >= 16, `only ${m.events} events`);
  assert.ok(m.checkpoints >= 3, `only ${m.checkpoints} checkpoints`);
  assert.equal(m.consistencyProofs, m.checkpoints - 1);
  assert.equal(m.eventFiles.length, Math.ceil(m.events / 5));
  assert.equal(readFileSync(join(exp, 'events', '000000.jsonl'), 'utf8').split('\n').length, 6);
  lines.forEach((l, i) => assert.equal((JSON.parse(l) as { seq: number }).seq, i));
  const cpLines = readFileSync(join(exp, 'checkpoints.jsonl'), 'utf8').trim().split('\n');
  assert.equal((JSON.parse(cpLines.at(-1) as string) as { size: number }).size, m.events, 'the export ends on a checkpoint');

  // Forgeries, each in its own copy.
  const forged = (name: string, edit: (dir: string) => void): string => {
    const dir = join(tmp, `forged-${name}`);
    cpSync(exp, dir, { recursive: true });
    edit(dir);
    return dir;
  };
  const file1 = (dir: string): string => join(dir, 'events', '000001.jsonl'); // events 5 to 9
  const changed = forged('changed-byte', (d) =>
    editLines(file1(d), (ls) =>
      ls.map((l, i) => (i === 1 ? l.replace(/("time":"[^"]*)(\d)Z"/, (_, a: string, n: string) => `${a}${(Number(n) + 1) % 10}Z"`) : l)),
    ),
  );
  assert.notEqual(eventLines(changed)[6], lines[6]);
  const dropped = forged('dropped', (d) => editLines(file1(d), (ls) => ls.filter((_, i) => i !== 2)));
  const swapped = forged('swapped', (d) => editLines(file1(d), ([a, b, ...rest]) => [b as string, a as string, ...rest]));
  const inserted = forged('inserted', (d) => editLines(file1(d), (ls) => [...ls.slice(0, 2), ls[0] as string, ...ls.slice(2)]));
  const appended = forged('appended', (d) =>
    editLines(join(d, 'events', (m.eventFiles.at(-1) as string).slice('events/'.length)), (ls) => [
      ...ls,
      JSON.stringify({ v: 1, seq: m.events, action: 'user:Delete' }),
    ]),
  );
  const fileGone = forged('file-gone', (d) => rmSync(file1(d)));
  const truncated = forged('truncated', (d) => rmSync(join(d, m.eventFiles.at(-1) as string)));
  const tooLong = forged('too-long', (d) => editLines(file1(d), (ls) => ls.map((l, i) => (i === 0 ? `${l}${' '.repeat(70_000)}` : l))));
  const rootEdited = forged('root-edited', (d) =>
    editLines(join(d, 'checkpoints.jsonl'), (ls) =>
      ls.map((l, i) => {
        if (i !== 1) return l;
        const c = JSON.parse(l) as { size: number; note: string };
        const body = c.note.split('\n');
        body[2] = Buffer.alloc(32, 7).toString('base64');
        return JSON.stringify({ ...c, note: body.join('\n') });
      }),
    ),
  );
  const impostor = generateNoteKey(origin);
  const cp1 = JSON.parse(cpLines[1] as string) as { size: number; note: string };
  const [origin1, size1, root1] = cp1.note.split('\n');
  assert.equal(origin1, origin);
  const byOtherKey = await signCheckpoint(
    { origin, size: Number(size1), rootHash: Buffer.from(root1 as string, 'base64') },
    parseSignerKey(impostor.signerKey),
  );
  const otherKeyCp = forged('other-key-checkpoint', (d) =>
    editLines(join(d, 'checkpoints.jsonl'), (ls) => ls.map((l, i) => (i === 1 ? JSON.stringify({ size: cp1.size, note: byOtherKey }) : l))),
  );
  const reordered = forged('reordered-checkpoints', (d) =>
    editLines(join(d, 'checkpoints.jsonl'), ([a, b, c, ...rest]) => [a as string, c as string, b as string, ...rest]),
  );
  const badProof = forged('consistency', (d) =>
    editLines(join(d, 'consistency.jsonl'), (ls) => {
      const i = ls.findIndex((l) => (JSON.parse(l) as { proof: string[] }).proof.length > 0);
      assert.ok(i >= 0, 'a non-empty consistency proof');
      const c = JSON.parse(ls[i] as string) as { proof: string[] };
      c.proof[0] = Buffer.alloc(32, 9).toString('base64');
      return ls.map((l, j) => (j === i ? JSON.stringify(c) : l));
    }),
  );

  // History rewritten after a kept checkpoint. (1) A forger re-signs a rewritten history with their own key:
  // the fake export is consistent in itself, but not with the checkpoint kept from the real log, nor with its key.
  const fake = join(tmp, 'fake-own-key');
  const rewritten = lines.map((l, i) => (i === 1 ? rewrite(l) : l));
  await forgeExport(fake, rewritten, impostor, [4, rewritten.length]);
  // (2) The log's own key signs a rewritten history (a key the operator holds): only the kept checkpoint catches it.
  const logKey = generateNoteKey(origin);
  const honest = join(tmp, 'honest-own-log');
  const honestNotes = await forgeExport(honest, lines, logKey, [10, lines.length]);
  const keptOwn = join(tmp, 'kept-own.note');
  writeFileSync(keptOwn, honestNotes[0] as string);
  const rewrittenOwn = join(tmp, 'rewritten-own-log');
  await forgeExport(rewrittenOwn, rewritten, logKey, [12, rewritten.length]);
  const keyFile = join(tmp, 'trusted-key.json');
  cpSync(join(exp, 'public-key.json'), keyFile);

  // The first and last run as their own processes; the many offline checks share one (run-many.ts).
  const none = { SIGHTLINE_CONFIG_DIR: join(tmp, 'none') };
  const inOne = (args: string[][]): Promise<Result[]> => runCliMany(args.map((a) => ({ args: ['audit', 'verify', ...a], env: none })));
  const [first, many, server] = await Promise.all([
    offline(['audit', 'verify', exp, '--key', vkey]), // 0
    inOne([
      [exp, '--key', keyFile, '--against-checkpoint', keptFile, '--json'], // 1
      [changed], // 2
      [dropped], // 3
      [swapped], // 4
      [inserted], // 5
      [appended], // 6
      [fileGone], // 7
      [truncated], // 8
      [tooLong], // 9
      [rootEdited, '--json'], // 10
      [otherKeyCp], // 11
      [reordered], // 12
      [badProof], // 13
      [exp, '--key', impostor.verifierKey], // 14
      [fake], // 15
      [fake, '--against-checkpoint', keptFile], // 16
      [fake, '--key', vkey], // 17
      [rewrittenOwn, '--key', logKey.verifierKey], // 18
      [rewrittenOwn, '--key', logKey.verifierKey, '--against-checkpoint', keptOwn], // 19
      [honest, '--key', logKey.verifierKey, '--against-checkpoint', keptOwn], // 20
    ]),
    cli(['audit', 'verify', '--server']), // 21
  ]);
  const r = [first, ...many, server];
  const ok = (i: number): Result => {
    const x = r[i] as Result;
    assert.equal(x.code, 0, `#${i}: ${x.stderr}`);
    return x;
  };
  const fails = (i: number, pattern: RegExp): void => {
    const x = r[i] as Result;
    assert.equal(x.code, 9, `#${i} should fail with 9: ${x.stdout}${x.stderr}`);
    assert.match(x.stderr, pattern, `#${i}`);
  };
  assert.match(
    ok(0).stdout,
    new RegExp(`^Verified ${m.events} events \\(${m.eventFiles.length} files\\) against ${m.checkpoints} signed checkpoints`),
  );
  assert.doesNotMatch(r[0]?.stderr ?? '', /key came from the export/);
  const v = json<{ verified: boolean; events: number; keySource: string; keptCheckpoint: { size: number } }>(ok(1));
  assert.equal(v.verified, true);
  assert.equal(v.events, m.events);
  assert.equal(v.keySource, '--key');
  assert.ok(v.keptCheckpoint.size > 0 && v.keptCheckpoint.size < m.events);

  fails(
    2,
    /^error AUDIT_EVENT_MISMATCH: Events \d+ to \d+ do not reproduce the root of checkpoint #\d+ .*\[events\/00000\d\.jsonl:\d+ to events\/00000\d\.jsonl:\d+\] \[checkpoints\.jsonl:\d+\]/,
  );
  fails(3, /^error AUDIT_EVENT_SEQUENCE: events\/000001\.jsonl:3 holds event 8 where event 7 belongs: event 7 was dropped/);
  fails(4, /^error AUDIT_EVENT_SEQUENCE: events\/000001\.jsonl:1 holds event 6 where event 5 belongs: event 5 was dropped \(or moved/);
  fails(5, /^error AUDIT_EVENT_SEQUENCE: events\/000001\.jsonl:3 holds event 5 where event 7 belongs: an event was inserted/);
  fails(6, new RegExp(`^error AUDIT_UNSIGNED_EVENTS: Events ${m.events} to ${m.events} are not covered by any checkpoint`));
  fails(7, /^error AUDIT_EVENT_FILE_MISSING: events\/000001\.jsonl is missing/);
  fails(8, /^error AUDIT_EVENT_MISMATCH: The export ends after \d+ events but checkpoint #\d+ \(size \d+\) covers more/);
  fails(9, /^error AUDIT_LINE_TOO_LONG: events\/000001\.jsonl:1 is longer than 65536 bytes/);
  fails(
    10,
    /^error AUDIT_CHECKPOINT_INVALID: checkpoints\.jsonl:2 \(checkpoint #1\) is not a valid checkpoint of this log \(CHECKPOINT_SIGNATURE_INVALID\)/,
  );
  assert.deepEqual(json<{ verified: boolean; error: { code: string } }>(r[10] as Result).error.code, 'AUDIT_CHECKPOINT_INVALID');
  fails(11, /^error AUDIT_CHECKPOINT_INVALID: checkpoints\.jsonl:2 \(checkpoint #1\) .*\(CHECKPOINT_UNKNOWN_KEY\).*signed by another key/);
  fails(12, /^error AUDIT_ORDER_INVALID: checkpoints\.jsonl:3 \(checkpoint #2\)/);
  fails(13, /^error AUDIT_CONSISTENCY_INVALID: consistency\.jsonl:\d+: checkpoint #\d+ \(size \d+\) is not shown to extend/);
  fails(14, /^error AUDIT_KEY_MISMATCH: The export's key .* is not the trusted key given with --key/);
  // The fake export is consistent in itself (which is why --key and kept checkpoints matter)…
  assert.equal(r[15]?.code, 0, r[15]?.stderr);
  assert.match(r[15]?.stderr ?? '', /warning: the key came from the export itself/);
  // …but not with a checkpoint kept from the real log, nor with the real key.
  fails(16, /^error AUDIT_KEPT_CHECKPOINT_INVALID: The kept checkpoint does not verify with the export's key/);
  fails(17, /^error AUDIT_KEY_MISMATCH: /);
  ok(18);
  fails(19, /^error AUDIT_HISTORY_REWRITTEN: The export's first 10 events do not reproduce the root of the kept checkpoint \(size 10\)/);
  ok(20);
  assert.match(ok(21).stdout, /^The live store verified: \d+ events reproduce all \d+ checkpoints/);
  assert.ok(!existsSync(join(tmp, 'none')), 'offline verify reads no profile');
});

test('audit verify: usage errors exit 2, a missing folder exits 7', async () => {
  const none = { SIGHTLINE_CONFIG_DIR: join(tmp, 'none') };
  const [neither, both, missing] = (await runCliMany(
    [
      ['audit', 'verify'],
      ['audit', 'verify', tmp, '--server'],
      ['audit', 'verify', join(tmp, 'absent')],
    ].map((args) => ({ args, env: none })),
  )) as [Result, Result, Result];
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /^error USAGE: Give the export folder DIR, or --server/);
  assert.equal(both.code, 2);
  assert.equal(missing.code, 7);
  assert.match(missing.stderr, /^error FILE_UNREADABLE: /);
});

test('retention: export, prune, and the kept log still verifies offline and live; a forged base fails naming the fault', async () => {
  const r = await startTestServer({ config: { 'audit.retentionDays': 1 } });
  try {
    const renv = (): Promise<Record<string, string>> => adminEnv(r, join(tmp, 'config-retention'), true);
    let e = await renv();
    const token = e['SIGHTLINE_TOKEN'] as string;
    for (let i = 0; i < 6; i++) await r.call('GET', '/api/v1/projects', undefined, token);
    const exp1 = join(tmp, 'retention-1');
    const first = await runCli(['audit', 'export', '--out', exp1, '--json'], e);
    assert.equal(first.code, 0, first.stderr);
    const m1 = json<{ events: number; treeSize: number; firstEvent: number; receiptRecorded: boolean }>(first);
    assert.equal(m1.firstEvent, 0);
    assert.equal(m1.receiptRecorded, true);
    const cut = m1.treeSize;
    const oldKept = join(tmp, 'retention-old-kept.note');
    writeFileSync(
      oldKept,
      (JSON.parse(readFileSync(join(exp1, 'checkpoints.jsonl'), 'utf8').split('\n')[0] as string) as { note: string }).note,
    );
    // More events, never exported; then two days pass.
    for (let i = 0; i < 7; i++) await r.call('GET', '/api/v1/users', undefined, token);
    await runCli(['audit', 'checkpoint'], e);
    r.clock.advance(2 * 86_400_000);
    e = await renv();
    const [pruned, again] = (await runCliMany(
      [
        ['audit', 'prune', '--json'],
        ['audit', 'prune'],
      ].map((args) => ({ args, env: e })),
    )) as [Result, Result];
    assert.equal(pruned.code, 0, pruned.stderr);
    const p = json<{ pruned: boolean; dropped: number; base: { size: number } }>(pruned);
    assert.deepEqual([p.pruned, p.dropped, p.base.size], [true, cut, cut]);
    assert.match(again.stdout, /^Nothing dropped: No export covers events after \d+/);

    const exp2 = join(tmp, 'retention-2');
    const second = await runCli(['audit', 'export', '--out', exp2, '--lines-per-file', '4', '--json'], e);
    assert.equal(second.code, 0, second.stderr);
    const m2 = json<{ events: number; treeSize: number; firstEvent: number }>(second);
    assert.equal(m2.firstEvent, cut);
    assert.equal(m2.events, m2.treeSize - cut);
    const lines2 = eventLines(exp2);
    assert.equal((JSON.parse(lines2[0] as string) as { seq: number }).seq, cut);
    const vkey = (JSON.parse(readFileSync(join(exp2, 'public-key.json'), 'utf8')) as { verifierKey: string }).verifierKey;

    // Forgeries of the kept export, each in its own copy.
    const forged = (name: string, edit: (dir: string) => void): string => {
      const dir = join(tmp, `retention-forged-${name}`);
      cpSync(exp2, dir, { recursive: true });
      edit(dir);
      return dir;
    };
    const editBase = (d: string, f: (b: { size: number; compactRange: string[] }) => unknown): void => {
      const b = JSON.parse(readFileSync(join(d, 'base.json'), 'utf8')) as { size: number; compactRange: string[] };
      writeFileSync(join(d, 'base.json'), JSON.stringify(f(b)));
    };
    const badRange = forged('range', (d) =>
      editBase(d, (b) => ({ ...b, compactRange: b.compactRange.map((h, i) => (i === 0 ? Buffer.alloc(32, 5).toString('base64') : h)) })),
    );
    const noBase = forged('no-base', (d) => rmSync(join(d, 'base.json')));
    const impostor = generateNoteKey(parseVerifierKey(vkey).name);
    const cutCp = JSON.parse(readFileSync(join(exp2, 'checkpoints.jsonl'), 'utf8').split('\n')[0] as string) as {
      size: number;
      note: string;
    };
    const [o, sz, root] = cutCp.note.split('\n');
    const otherCut = await signCheckpoint(
      { origin: o as string, size: Number(sz), rootHash: Buffer.from(root as string, 'base64') },
      parseSignerKey(impostor.signerKey),
    );
    const replacedCut = forged('cut-checkpoint', (d) =>
      editLines(join(d, 'checkpoints.jsonl'), (ls) =>
        ls.map((l, i) => (i === 0 ? JSON.stringify({ size: cutCp.size, note: otherCut }) : l)),
      ),
    );
    const droppedKept = forged('dropped-kept', (d) => editLines(join(d, 'events', '000000.jsonl'), (ls) => ls.filter((_, i) => i !== 1)));
    // A fake cut at a later checkpoint, with a compact range that does reproduce it (computed from
    // both exports' events): only the missing audit:Prune record of that cut gives it away.
    const all = [...eventLines(exp1), ...lines2];
    const store = new MemoryHashStore();
    await store.append(...all.map((l) => Buffer.from(l)));
    const later = readFileSync(join(exp2, 'checkpoints.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { size: number; note: string });
    const fakeAt = later.find((c) => c.size > cut + 1 && c.size < m2.treeSize);
    assert.ok(fakeAt !== undefined, 'a checkpoint inside the second export');
    const fakeCut = forged('fake-cut', (d) => {
      rmSync(join(d, 'events'), { recursive: true });
      mkdirSync(join(d, 'events'));
      writeFileSync(
        join(d, 'events', '000000.jsonl'),
        all
          .slice(fakeAt.size)
          .map((l) => `${l}\n`)
          .join(''),
      );
      const kept = later.filter((c) => c.size >= fakeAt.size);
      writeFileSync(join(d, 'checkpoints.jsonl'), kept.map((c) => `${JSON.stringify(c)}\n`).join(''));
      editLines(join(d, 'consistency.jsonl'), (ls) => ls.filter((l) => (JSON.parse(l) as { from: number }).from >= fakeAt.size));
      rmSync(join(d, 'manifest.json'));
    });
    const fakeRange = (await store.getNodes(compactRange(fakeAt.size))).map((h) => Buffer.from(h as Uint8Array).toString('base64'));
    editBase(fakeCut, () => ({ size: fakeAt.size, compactRange: fakeRange }));

    const none = { SIGHTLINE_CONFIG_DIR: join(tmp, 'none') };
    const v = await runCliMany(
      [
        [exp2, '--key', vkey], // 0
        [exp2, '--key', vkey, '--json'], // 1
        [exp1, '--key', vkey], // 2: the old export still verifies on its own
        [badRange], // 3
        [noBase], // 4
        [replacedCut], // 5
        [droppedKept], // 6
        [fakeCut], // 7
        [exp2, '--against-checkpoint', oldKept], // 8
      ].map((a) => ({ args: ['audit', 'verify', ...a], env: none })),
    );
    const [live, proved, gone] = (await runCliMany(
      [
        ['audit', 'verify', '--server'],
        ['audit', 'prove', String(cut + 1), '--json'],
        ['audit', 'prove', '1'],
      ].map((args) => ({ args, env: e })),
    )) as [Result, Result, Result];
    const fails = (i: number, pattern: RegExp): void => {
      const x = v[i] as Result;
      assert.equal(x.code, 9, `#${i} should fail with 9: ${x.stdout}${x.stderr}`);
      assert.match(x.stderr, pattern, `#${i}`);
    };
    assert.equal(v[0]?.code, 0, v[0]?.stderr);
    assert.match(
      v[0]?.stdout ?? '',
      new RegExp(
        `^Verified ${m2.events} events .*\\nEvents 0 to ${cut - 1} were dropped by retention; the kept events start at ${cut}`,
        'm',
      ),
    );
    const vj = json<{ events: number; baseSize: number; treeSize: number }>(v[1] as Result);
    assert.deepEqual([vj.events, vj.baseSize, vj.treeSize], [m2.events, cut, m2.treeSize]);
    assert.equal(v[2]?.code, 0, v[2]?.stderr);
    fails(
      3,
      /^error AUDIT_BASE_MISMATCH: The compact range of the dropped events 0 to \d+ does not reproduce the root of checkpoint #0 .*\[base\.json\] \[checkpoints\.jsonl:1\]/,
    );
    fails(
      4,
      new RegExp(
        `^error AUDIT_EVENT_SEQUENCE: events/000000\\.jsonl:1 holds event ${cut} where event 0 belongs: events 0 to ${cut - 1} were dropped`,
      ),
    );
    fails(5, /^error AUDIT_CHECKPOINT_INVALID: checkpoints\.jsonl:1 \(checkpoint #0\) .*\(CHECKPOINT_UNKNOWN_KEY\).*signed by another key/);
    fails(6, new RegExp(`^error AUDIT_EVENT_SEQUENCE: events/000000\\.jsonl:2 holds event ${cut + 2} where event ${cut + 1} belongs`));
    fails(
      7,
      new RegExp(
        `^error AUDIT_BASE_UNRECORDED: The export starts at event ${fakeAt.size} \\(base\\.json\\), but no event in it records a retention cut there`,
      ),
    );
    fails(8, /^error AUDIT_KEPT_CHECKPOINT_PRUNED: The kept checkpoint \(size \d+\) is older than this export's first event/);
    assert.equal(live.code, 0, live.stderr);
    assert.match(
      live.stdout,
      new RegExp(`^The live store verified: \\d+ events .*\\nEvents 0 to ${cut - 1} were dropped by retention`, 'm'),
    );
    assert.equal(proved.code, 0, proved.stderr);
    assert.equal(json<{ verified: boolean; leafIndex: number }>(proved).leafIndex, cut + 1);
    assert.equal(gone.code, 5);
    assert.match(gone.stderr, /^error AUDIT_EVENT_NOT_FOUND: Event 1 was dropped by retention/);
  } finally {
    await r.close();
  }
});

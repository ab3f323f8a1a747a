/**
 * The layout of an audit export (`sightline audit export --out DIR`), shared by
 * the exporter and the offline verifier:
 *
 * ```text
 * DIR/events/000000.jsonl     the exact leaf lines, one per line, in log order (100,000 a file)
 * DIR/events/000001.jsonl     …
 * DIR/checkpoints.jsonl       {"size":N,"note":"<C2SP signed checkpoint>"} per line, in signing order
 * DIR/consistency.jsonl       {"from":A,"to":B,"proof":["<base64>",…]} between consecutive checkpoints
 * DIR/public-key.json         {"origin","verifierKey","publicKeyPem"}
 * DIR/manifest.json           counts, export time, server URL
 * DIR/base.json               only after a retention cut: {"size":CUT,"compactRange":["<base64>",…],"checkpoint":"<note>"}
 * ```
 *
 * After a retention cut the events start at CUT (events/000000.jsonl line 1 is event CUT), the
 * first checkpoint is the signed one at CUT, and base.json holds the compact range of the dropped
 * events [0, CUT): the hashes of the maximal complete subtrees over them, largest first.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { CliError, EXIT } from '../errors.js';

export const EXPORT_FORMAT = 'sightline-audit-export';
export const EXPORT_VERSION = 1;
export const EVENTS_DIR = 'events';
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';
export const CONSISTENCY_FILE = 'consistency.jsonl';
export const PUBLIC_KEY_FILE = 'public-key.json';
export const MANIFEST_FILE = 'manifest.json';
export const BASE_FILE = 'base.json';
export const LINES_PER_FILE = 100_000;
/** The server stores no event line longer than this (larger parameters are replaced by their digest). */
export const MAX_EVENT_LINE_BYTES = 64 * 1024;
/** A checkpoint note is at most 16 KiB; its JSON line, escaped, stays well under this. */
export const MAX_META_LINE_BYTES = 64 * 1024;
/** 10,000 files of 100,000 events: a billion events. */
export const MAX_EVENT_FILES = 10_000;
/** About ten years of checkpoints every five minutes. */
export const MAX_CHECKPOINTS = 1_500_000;

export const eventFileName = (index: number): string => `${String(index).padStart(6, '0')}.jsonl`;
export const EVENT_FILE_PATTERN = /^(\d{6})\.jsonl$/;

/** A verification failure: exit 9, the code and a sentence that names what is wrong and where. */
export function verifyFailed(code: string, message: string, details?: Record<string, unknown>, cause?: unknown): CliError {
  return new CliError(code, message, EXIT.VERIFY_FAILED, {
    ...(details === undefined ? {} : { details }),
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The lines of a file as exact bytes (without the `\n`), read in 1 MiB
 * chunks, each at most `maxBytes` long: a longer one fails before it is held
 * in memory. `where` names the file in messages (`events/000001.jsonl`).
 * Synchronous on purpose: an async iterator costs a promise per line, which
 * is a large share of verifying an event.
 */
export function* readLines(path: string, where: string, maxBytes: number): Generator<Buffer> {
  let lineNo = 0;
  const tooLong = (): CliError =>
    verifyFailed(
      'AUDIT_LINE_TOO_LONG',
      `${where}:${lineNo + 1} is longer than ${maxBytes} bytes, more than any line of an export holds: the file is damaged or forged.`,
      { file: where, line: lineNo + 1 },
    );
  const fd = openSync(path, 'r');
  try {
    let carry: Buffer | undefined;
    for (;;) {
      const chunk = Buffer.allocUnsafe(1 << 20);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      const read = chunk.subarray(0, n);
      const buf: Buffer = carry === undefined ? read : Buffer.concat([carry, read]);
      carry = undefined;
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
        if (nl - start > maxBytes) throw tooLong();
        lineNo++;
        yield buf.subarray(start, nl);
        start = nl + 1;
      }
      if (buf.length - start > maxBytes) throw tooLong();
      if (start < buf.length) carry = buf.subarray(start);
    }
    if (carry !== undefined) yield carry;
  } finally {
    closeSync(fd);
  }
}

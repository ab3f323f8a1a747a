/**
 * The binary framing of the direct app ⇄ model runner channel (a Unix
 * socket pair the agent hands to both ends: tensors never pass through the
 * agent's process and are never V8-serialised).
 *
 * Every message is a 16-byte little-endian header and a body:
 *
 * - request (app → runner): `magic u32 | id u32 | dtype u8 | 0 u8 ×3 | bytes u32`, then the
 *   tensor's bytes: `dtype` 1 = uint8 pixels (the runner maps 0..255 to the
 *   model's range), 2 = float32 values.
 * - reply (runner → app): `magic u32 | id u32 | status u8 | count u8 | 0 u16 | bytes u32`;
 *   status 0: `count` outputs in the model's output order, each
 *   `floats u32` then its float32 values; status 1: a UTF-8 JSON
 *   `{ code, message }` of at most {@link WIRE_MAX_ERROR_BYTES}.
 *
 * Readers check the magic and cap `bytes` before allocating anything; a
 * peer that breaks the framing is cut off (a stream cannot be resynchronised).
 *
 * @example
 * ```ts
 * socket.write(encodeRequest(7, new Uint8Array(256 * 256 * 3)));
 * const reader = new WireReader(WIRE_MAX_REPLY_BYTES, (h, body) => ..., (e) => socket.destroy());
 * socket.on('data', (c) => reader.push(c));
 * ```
 */

/** `SLM1`, little-endian. */
export const WIRE_MAGIC = 0x314d4c53;
export const WIRE_HEADER_BYTES = 16;
export const WIRE_DTYPE_UINT8 = 1;
export const WIRE_DTYPE_FLOAT32 = 2;
export const WIRE_STATUS_OK = 0;
export const WIRE_STATUS_ERROR = 1;
/** Largest error body. */
export const WIRE_MAX_ERROR_BYTES = 4096;
/** Largest reply an app accepts (outputs of any model it may call). */
export const WIRE_MAX_REPLY_BYTES = 256 * 1024 * 1024;

/**
 * A parsed header.
 *
 * @example
 * ```ts
 * const h: WireHeader = { id: 1, kind: WIRE_DTYPE_UINT8, count: 0, bytes: 196608 };
 * ```
 */
export interface WireHeader {
  readonly id: number;
  /** Requests: the dtype; replies: the status. */
  readonly kind: number;
  /** Replies: the number of outputs. */
  readonly count: number;
  readonly bytes: number;
}

function header(id: number, kind: number, count: number, bytes: number): Buffer {
  const h = Buffer.allocUnsafe(WIRE_HEADER_BYTES);
  h.writeUInt32LE(WIRE_MAGIC, 0);
  h.writeUInt32LE(id >>> 0, 4);
  h.writeUInt8(kind, 8);
  h.writeUInt8(count, 9);
  h.writeUInt16LE(0, 10);
  h.writeUInt32LE(bytes, 12);
  return h;
}

function bytesOf(a: Uint8Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * A request's header and body, to write in one go (`socket.cork()` or two writes).
 *
 * @example
 * ```ts
 * for (const part of encodeRequest(id, tensor)) socket.write(part);
 * ```
 */
export function encodeRequest(id: number, input: Uint8Array | Float32Array): [Buffer, Buffer] {
  const dtype = input instanceof Float32Array ? WIRE_DTYPE_FLOAT32 : WIRE_DTYPE_UINT8;
  return [header(id, dtype, 0, input.byteLength), bytesOf(input)];
}

/**
 * A successful reply: the outputs in order.
 *
 * @example
 * ```ts
 * socket.write(Buffer.concat(encodeResult(id, [scores, boxes])));
 * ```
 */
export function encodeResult(id: number, outputs: readonly Float32Array[]): Buffer[] {
  const parts: Buffer[] = [];
  let bytes = 0;
  for (const o of outputs) {
    const n = Buffer.allocUnsafe(4);
    n.writeUInt32LE(o.length, 0);
    parts.push(n, bytesOf(o));
    bytes += 4 + o.byteLength;
  }
  return [header(id, WIRE_STATUS_OK, outputs.length, bytes), ...parts];
}

/**
 * An error reply with a stable code.
 *
 * @example
 * ```ts
 * socket.write(Buffer.concat(encodeError(id, 'MODEL_BUSY', 'dropped')));
 * ```
 */
export function encodeError(id: number, code: string, message: string): Buffer[] {
  let body = Buffer.from(JSON.stringify({ code: code.slice(0, 64), message: message.slice(0, 1024) }), 'utf8');
  if (body.length > WIRE_MAX_ERROR_BYTES) body = Buffer.from(JSON.stringify({ code: code.slice(0, 64), message: '' }), 'utf8');
  return [header(id, WIRE_STATUS_ERROR, 0, body.length), body];
}

/**
 * Splits a reply body into its outputs (views, no copy; the body must start 4-byte aligned).
 * Throws a plain Error when the body does not hold exactly `count` outputs.
 *
 * @example
 * ```ts
 * const [scores, boxes] = decodeOutputs(body, h.count);
 * ```
 */
export function decodeOutputs(body: Uint8Array, count: number): Float32Array[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Float32Array[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + 4 > body.byteLength) throw new Error('truncated output');
    const n = view.getUint32(off, true);
    off += 4;
    if (off + n * 4 > body.byteLength) throw new Error('truncated output');
    out.push(new Float32Array(body.buffer, body.byteOffset + off, n));
    off += n * 4;
  }
  if (off !== body.byteLength) throw new Error('trailing bytes');
  return out;
}

/**
 * Reassembles messages from stream chunks. `maxBytes` caps a body (checked
 * on the header, before any allocation); a bad magic or a body over the cap
 * calls `onFatal` once and ignores everything after. Bodies are fresh,
 * 4-byte aligned buffers the callee may keep.
 *
 * @example
 * ```ts
 * const r = new WireReader(1 << 20, (h, body) => handle(h, body), (why) => socket.destroy(new Error(why)));
 * socket.on('data', (chunk) => r.push(chunk));
 * ```
 */
export class WireReader {
  private readonly head = Buffer.alloc(WIRE_HEADER_BYTES);
  private headFill = 0;
  private current: WireHeader | undefined;
  private body: Uint8Array | undefined;
  private bodyFill = 0;
  private dead = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (h: WireHeader, body: Uint8Array) => void,
    private readonly onFatal: (reason: string) => void,
  ) {}

  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length && !this.dead) {
      if (this.current === undefined) {
        const n = Math.min(WIRE_HEADER_BYTES - this.headFill, chunk.length - off);
        this.head.set(chunk.subarray(off, off + n), this.headFill);
        this.headFill += n;
        off += n;
        if (this.headFill < WIRE_HEADER_BYTES) return;
        this.headFill = 0;
        if (this.head.readUInt32LE(0) !== WIRE_MAGIC) return this.fatal('bad magic');
        const h: WireHeader = {
          id: this.head.readUInt32LE(4),
          kind: this.head.readUInt8(8),
          count: this.head.readUInt8(9),
          bytes: this.head.readUInt32LE(12),
        };
        if (h.bytes > this.maxBytes) return this.fatal(`message of ${h.bytes} bytes is over the ${this.maxBytes}-byte cap`);
        this.current = h;
        this.body = new Uint8Array(h.bytes);
        this.bodyFill = 0;
      }
      const body = this.body!;
      const n = Math.min(body.length - this.bodyFill, chunk.length - off);
      body.set(chunk.subarray(off, off + n), this.bodyFill);
      this.bodyFill += n;
      off += n;
      if (this.bodyFill === body.length) {
        const h = this.current;
        this.current = undefined;
        this.body = undefined;
        this.onMessage(h, body);
      }
    }
  }

  private fatal(reason: string): void {
    this.dead = true;
    this.current = undefined;
    this.body = undefined;
    this.onFatal(reason);
  }
}

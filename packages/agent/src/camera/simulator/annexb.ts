/**
 * H.264 Annex-B byte stream (ITU-T H.264 Annex B) to NAL units and access
 * units, for the built-in camera simulator, which reads what `ffmpeg -f h264`
 * writes. Pure: no I/O, so it is tested without a process.
 */

export const NAL_SLICE = 1;
export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;
export const NAL_FILLER = 12;

const START = Buffer.from([0, 0, 1]);

/**
 * Splits an Annex-B byte stream at its start codes (`00 00 01`, with any
 * leading zero bytes). Each NAL unit is emitted once the next start code
 * shows where it ends, with the time its own start code arrived. NAL units
 * cannot contain `00 00 01` (emulation prevention, H.264 7.4.1), so a plain
 * search is exact.
 */
export class AnnexBSplitter {
  private buf: Buffer = Buffer.alloc(0);
  /** Offset in `buf` of the current NAL's first byte, -1 before the first start code. */
  private nalStart = -1;
  private nalAt = 0;
  /** Where to resume the search for a start code. */
  private scan = 0;

  constructor(
    /** Largest NAL unit accepted, bytes; a longer run without a start code throws. */
    private readonly maxNal: number,
    private readonly emit: (nal: Buffer, atMs: number) => void,
  ) {}

  push(chunk: Buffer, nowMs: number): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const at = this.buf.indexOf(START, this.scan);
      if (at === -1) {
        // A start code may straddle this chunk and the next.
        this.scan = Math.max(this.nalStart, this.buf.length - 2, 0);
        break;
      }
      if (this.nalStart >= 0) this.emitNal(this.nalStart, at);
      this.nalStart = at + 3;
      this.nalAt = nowMs;
      this.scan = at + 3;
    }
    // Keep only the NAL in progress (or the tail that may start a start code).
    const keep = this.nalStart >= 0 ? this.nalStart : this.scan;
    if (keep > 0) {
      this.buf = this.buf.subarray(keep);
      this.scan -= keep;
      if (this.nalStart >= 0) this.nalStart = 0;
    }
    if (this.buf.length > this.maxNal) throw new RangeError(`an H.264 NAL unit over ${this.maxNal} bytes`);
  }

  /** The stream ended: emits the last NAL unit. */
  end(): void {
    if (this.nalStart >= 0) this.emitNal(this.nalStart, this.buf.length);
    this.reset();
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
    this.nalStart = -1;
    this.scan = 0;
  }

  private emitNal(start: number, endAt: number): void {
    let end = endAt;
    // Zero bytes before a start code belong to it (leading_zero_8bits / trailing_zero_8bits, Annex B.1).
    while (end > start && this.buf[end - 1] === 0) end--;
    if (end > start) this.emit(Buffer.from(this.buf.subarray(start, end)), this.nalAt);
  }
}

/** One picture's NAL units, in decoding order. */
export interface AnnexBAccessUnit {
  readonly nals: readonly Buffer[];
  /** Holds an IDR slice: decoding can start here. */
  readonly keyframe: boolean;
  /** When its first NAL unit's start code arrived (ms, the caller's clock). */
  readonly atMs: number;
  readonly bytes: number;
}

function isVcl(type: number): boolean {
  return type >= 1 && type <= 5;
}

/**
 * Groups NAL units into access units by the rules of H.264 7.4.1.2.3: after
 * a picture's slices, an access unit delimiter, SEI, SPS, PPS or types 14-18
 * start the next one, and so does a slice whose first_mb_in_slice is 0 (its
 * ue(v) code then starts with a 1 bit). Filler data (type 12) is dropped.
 */
export class AccessUnitAssembler {
  private nals: Buffer[] = [];
  private bytes = 0;
  private hasVcl = false;
  private atMs = 0;

  constructor(
    private readonly limits: { readonly maxAccessUnit: number; readonly maxNalsPerAccessUnit: number },
    private readonly emit: (au: AnnexBAccessUnit) => void,
  ) {}

  push(nal: Buffer, atMs: number): void {
    const type = (nal[0] ?? 0) & 0x1f;
    if (type === NAL_FILLER || (nal[0] ?? 0) & 0x80) return;
    if (this.hasVcl) {
      const startsPicture = type === NAL_AUD || type === NAL_SEI || type === NAL_SPS || type === NAL_PPS || (type >= 14 && type <= 18);
      const firstSlice = isVcl(type) && ((nal[1] ?? 0) & 0x80) !== 0;
      if (startsPicture || firstSlice) this.flush();
    }
    if (this.nals.length === 0) this.atMs = atMs;
    this.nals.push(nal);
    this.bytes += nal.length;
    if (isVcl(type)) this.hasVcl = true;
    if (this.bytes > this.limits.maxAccessUnit || this.nals.length > this.limits.maxNalsPerAccessUnit) {
      throw new RangeError(`an H.264 picture over ${this.limits.maxAccessUnit} bytes or ${this.limits.maxNalsPerAccessUnit} NAL units`);
    }
  }

  /** Emits the access unit collected so far, if it holds a picture. */
  flush(): void {
    const nals = this.nals;
    const hasVcl = this.hasVcl;
    const bytes = this.bytes;
    this.nals = [];
    this.bytes = 0;
    this.hasVcl = false;
    if (!hasVcl) return;
    this.emit({ nals, keyframe: nals.some((n) => ((n[0] ?? 0) & 0x1f) === NAL_IDR), atMs: this.atMs, bytes });
  }

  reset(): void {
    this.nals = [];
    this.bytes = 0;
    this.hasVcl = false;
  }
}

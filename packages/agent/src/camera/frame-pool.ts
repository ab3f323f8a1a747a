/** One pooled buffer and how many holds on it are still out. */
class Pooled {
  holds = 1;
  constructor(
    readonly data: Buffer,
    readonly pool: FramePool,
  ) {}
}

/**
 * One holder's claim on a pooled frame buffer. Read `data` until
 * `release()`; give a second reader its own claim with `retain()`. The buffer
 * goes back to its pool (to be overwritten by a later frame) only when every
 * claim has been released, so a reader that keeps a frame simply does not
 * release it: the buffer then leaves the pool and is garbage-collected.
 *
 * @example
 * ```ts
 * const hold = pool.take();
 * fill(hold.data);
 * const other = hold.retain(); // a second reader
 * hold.release();
 * // ... other.data is intact until other.release()
 * ```
 */
export class FrameHold {
  private held = true;

  /** @internal */
  constructor(private readonly pooled: Pooled) {}

  /** The pixels; not to be read after `release()`. */
  get data(): Buffer {
    return this.pooled.data;
  }

  /** Whether this claim has been released. */
  get released(): boolean {
    return !this.held;
  }

  /** A further claim on the same buffer, released on its own. Refused after `release()` (the buffer may be reused by then). */
  retain(): FrameHold {
    if (!this.held) throw new Error('FrameHold.retain after release: the buffer may already hold another frame.');
    this.pooled.holds++;
    return new FrameHold(this.pooled);
  }

  /** Done reading. Once per claim: a second call does nothing. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (--this.pooled.holds === 0) this.pooled.pool.recycle(this.pooled);
  }
}

/**
 * Frame buffers of one size, reused once nobody holds them: the camera
 * decoder assembles each frame straight into one instead of allocating
 * 0.9 MB per frame (and V8 running a full mark-compact every few frames).
 * It never blocks and never hands out a buffer someone still holds: when
 * every buffer is held, `take()` allocates a new one; at most `keep` free
 * buffers wait for reuse, the rest are left to the garbage collector.
 *
 * @example
 * ```ts
 * const pool = new FramePool(640 * 480 * 3);
 * const hold = pool.take();
 * ```
 */
export class FramePool {
  private readonly free: Pooled[] = [];
  /** Buffers allocated because none was free. */
  allocated = 0;
  /** Buffers handed out again. */
  reused = 0;

  constructor(
    readonly frameBytes: number,
    readonly keep = 8,
  ) {
    if (!Number.isInteger(frameBytes) || frameBytes < 1) throw new RangeError('frameBytes must be a positive integer');
  }

  /** A buffer of `frameBytes` (contents: whatever an earlier frame left) with one claim, the caller's. */
  take(): FrameHold {
    const p = this.free.pop();
    if (p !== undefined) {
      p.holds = 1;
      this.reused++;
      return new FrameHold(p);
    }
    this.allocated++;
    // Its own ArrayBuffer (not a slice of Node's shared pool): nothing else lives in it.
    return new FrameHold(new Pooled(Buffer.allocUnsafeSlow(this.frameBytes), this));
  }

  /** Buffers waiting for reuse. */
  get idle(): number {
    return this.free.length;
  }

  /** @internal Called by the last release. */
  recycle(p: Pooled): void {
    if (p.holds !== 0 || this.free.includes(p)) return;
    if (this.free.length < this.keep) this.free.push(p);
  }
}

import { randomUUID } from 'node:crypto';
import { accessSync, constants, fstatSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uninitialised } from '../channel/ipc.js';
import type { Transport } from '../channel/messages.js';
import { SdkError } from '../errors.js';
import type { FrameData } from '../frame.js';

/**
 * Default slot size: one 3840x2160 RGB24 frame. Larger frames still travel,
 * over IPC.
 *
 * @example
 * ```ts
 * await FrameRing.create(['video_in'], ['video_out'], { slotBytes: DEFAULT_RING_SLOT_BYTES });
 * ```
 */
export const DEFAULT_RING_SLOT_BYTES = 3840 * 2160 * 3;

/**
 * Options of {@link FrameRing.create}.
 *
 * @example
 * ```ts
 * const o: FrameRingOptions = { slotBytes: 640 * 480 * 3, dir: '/dev/shm' };
 * ```
 */
export interface FrameRingOptions {
  /** Bytes per slot; default {@link DEFAULT_RING_SLOT_BYTES}. */
  readonly slotBytes?: number;
  /** Folder of the (at once unlinked) file; default /dev/shm where writable, else the OS temp folder. */
  readonly dir?: string;
}

function shmDir(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * The agent's side of an app's frame ring: a tmpfs file with one slot per
 * input and per output, opened by the agent, unlinked at once (no path to
 * it exists: only the agent and the one app it is handed to, as an
 * inherited file descriptor, can reach it), and passed to the app process
 * in its stdio. Frames then cross with one copy on each side (pwrite,
 * pread) instead of being V8-serialised over IPC.
 *
 * The app is untrusted and can write anywhere in the file: the agent reads
 * only what it asked for, checks every length, and cuts the file back to
 * its layout whenever it grew (so at most one slot's worth of tmpfs per
 * slot is ever in use; on appliances with cgroups it counts against the
 * app's own memory quota, which charges tmpfs pages to their writer).
 *
 * @example
 * ```ts
 * const ring = await FrameRing.create(['video_in'], ['video_out']);
 * spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc', ring.fd] });
 * ring.write('video_in', frame); // then reply { ring: true, ... }
 * const data = ring.read('video_out', 640, 480);
 * await ring.close();
 * ```
 */
export class FrameRing {
  private readonly offsets = new Map<string, number>();
  private closed = false;
  /** Times the app grew the file beyond its layout (it was cut back). */
  overgrown = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly slotBytes: number,
    private readonly inputs: readonly string[],
    private readonly outputs: readonly string[],
  ) {
    let off = 0;
    for (const name of inputs) {
      this.offsets.set(`in:${name}`, off);
      off += slotBytes;
    }
    for (const name of outputs) {
      this.offsets.set(`out:${name}`, off);
      off += slotBytes;
    }
    this.size = off;
  }

  /** Bytes of the whole layout. */
  readonly size: number;

  /** Creates the (unlinked) ring file for these inputs and outputs. */
  static async create(inputs: readonly string[], outputs: readonly string[], options: FrameRingOptions = {}): Promise<FrameRing> {
    const slotBytes = options.slotBytes ?? DEFAULT_RING_SLOT_BYTES;
    if (!Number.isInteger(slotBytes) || slotBytes < 3 || slotBytes > DEFAULT_RING_SLOT_BYTES * 4)
      throw new SdkError('DESCRIPTOR_INVALID', 'slotBytes must be an integer from 3 to 4 UHD frames.');
    const path = join(options.dir ?? shmDir(), `sightline-ring-${randomUUID()}`);
    const handle = await open(path, 'wx+', 0o600);
    await unlink(path).catch(async (e: unknown) => {
      await handle.close();
      throw e;
    });
    return new FrameRing(handle, slotBytes, inputs, outputs);
  }

  /** The agent's descriptor of the file: put it in the app's stdio. */
  get fd(): number {
    return this.handle.fd;
  }

  /** What the app is told in `hello`'s reply, given the descriptor number the file has in the app. */
  layout(fdInApp: number): NonNullable<Transport['ring']> {
    const pick = (kind: 'in' | 'out', names: readonly string[]): Record<string, number> =>
      Object.fromEntries(names.map((n) => [n, this.offsets.get(`${kind}:${n}`)!]));
    return { fd: fdInApp, slotBytes: this.slotBytes, inputs: pick('in', this.inputs), outputs: pick('out', this.outputs) };
  }

  /** Whether a frame of this size fits a slot (else it travels over IPC). */
  fits(width: number, height: number): boolean {
    return width * height * 3 <= this.slotBytes;
  }

  /**
   * Writes an input frame into its slot (a memory copy into tmpfs: kept
   * synchronous, like a memcpy, so the reply that follows finds it there).
   */
  write(input: string, frame: FrameData): void {
    const off = this.offsets.get(`in:${input}`);
    if (off === undefined || this.closed) throw new SdkError('UNKNOWN_INPUT', `"${input}" has no ring slot.`);
    if (frame.data.byteLength > this.slotBytes) throw new SdkError('FRAME_INVALID', 'The frame is larger than a ring slot.');
    this.guard();
    let done = 0;
    while (done < frame.data.byteLength) done += writeSync(this.fd, frame.data, done, frame.data.byteLength - done, off + done);
  }

  /** Reads an output frame of `width`x`height` from its slot into a fresh buffer. FRAME_INVALID when the app wrote less. */
  read(output: string, width: number, height: number): Uint8Array {
    const { off, n } = this.outputSlot(output, width, height);
    this.guard();
    const data = uninitialised(n);
    let done = 0;
    while (done < n) {
      const got = readSync(this.fd, data, done, n - done, off + done);
      if (got === 0) throw new SdkError('FRAME_INVALID', 'The output slot holds fewer bytes than the frame needs.');
      done += got;
    }
    return data;
  }

  /**
   * Checks an output frame of `width`x`height` as {@link read} would (its
   * slot, its size, that the app wrote that many bytes) without reading its
   * pixels: for an output nobody looks at now.
   */
  check(output: string, width: number, height: number): void {
    const { off, n } = this.outputSlot(output, width, height);
    const size = fstatSync(this.fd).size;
    if (size > this.size) {
      this.overgrown++;
      ftruncateSync(this.fd, this.size);
    }
    // read() would hit the end of the file before n bytes: the same refusal.
    if (size < off + n) throw new SdkError('FRAME_INVALID', 'The output slot holds fewer bytes than the frame needs.');
  }

  /**
   * The slot of an output and the bytes a frame of `width`x`height` takes
   * in it: UNKNOWN_OUTPUT for an output without a slot, FRAME_INVALID for a
   * frame that does not fit. Alone, for a frame whose pixels the app did not
   * write (`output.ring` with `skipped`).
   */
  outputSlot(output: string, width: number, height: number): { off: number; n: number } {
    const off = this.offsets.get(`out:${output}`);
    if (off === undefined || this.closed) throw new SdkError('UNKNOWN_OUTPUT', `"${output}" has no ring slot.`);
    const n = width * height * 3;
    if (!(n > 0 && n <= this.slotBytes)) throw new SdkError('FRAME_INVALID', 'The frame does not fit a ring slot.');
    return { off, n };
  }

  /** Cuts the file back to its layout if the app grew it. */
  guard(): void {
    if (this.closed) return;
    if (fstatSync(this.fd).size > this.size) {
      this.overgrown++;
      ftruncateSync(this.fd, this.size);
    }
  }

  /** Closes the agent's descriptor (the memory goes once the app's is closed too). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

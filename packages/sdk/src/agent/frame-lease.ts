import type { FrameData } from '../frame.js';

/** Each lent frame object's way back to its lender; taken (deleted) on the first return. */
const lenders = new WeakMap<FrameData, () => void>();

/**
 * Marks `frame` as lent: its pixels belong to a pool and will be reused
 * once the holder calls {@link returnFrame}. One frame object is one holder:
 * a lender that gives the same pixels to two holders makes two objects, each
 * lent with its own release. {@link FrameSlot} returns a frame it drops, and
 * {@link AppEndpoint} returns one it has copied into the app's ring. A frame
 * never returned is simply garbage-collected (its buffer is not reused), so
 * a holder that keeps a frame keeps it safely by not returning it.
 *
 * @example
 * ```ts
 * const hold = ingestFrame.retain();
 * slot.offer(lendFrame({ width, height, data: hold.data, timestamp, camera }, () => hold.release()));
 * ```
 */
export function lendFrame(frame: FrameData, release: () => void): FrameData {
  lenders.set(frame, release);
  return frame;
}

/**
 * The holder is done with `frame` and will not read its pixels again: they
 * go back to their lender. Once per object (a second call does nothing);
 * nothing for a frame that was not lent.
 *
 * @example
 * ```ts
 * ring.write(input, frame);
 * returnFrame(frame);
 * ```
 */
export function returnFrame(frame: FrameData): void {
  const release = lenders.get(frame);
  if (release === undefined) return;
  lenders.delete(frame);
  release();
}

/**
 * Whether `frame` is lent and not yet returned.
 *
 * @example
 * ```ts
 * if (isLent(frame)) returnFrame(frame);
 * ```
 */
export function isLent(frame: FrameData): boolean {
  return lenders.has(frame);
}

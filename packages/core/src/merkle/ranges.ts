// Pure index arithmetic shared by the prover and the verifiers. Sizes are JavaScript numbers,
// so everything here uses arithmetic rather than the 32-bit bitwise operators: a log may pass
// 2^32 leaves, and Number.MAX_SAFE_INTEGER is the documented ceiling.

/** A half-open range of leaf indices [lo, hi) whose MTH a proof carries. */
export type LeafRange = readonly [lo: number, hi: number];

/** Node (level, index) is the root of the complete subtree over leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

export function isTreeSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** RFC 9162 2.1.1: k, the largest power of two smaller than n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  return n >= 1 && splitPoint(n + 1) === n;
}

export function half(n: number): number {
  return Math.floor(n / 2);
}

/** RFC 9162 2.1.3.1 PATH(m, D[lo:hi]): the ranges whose MTHs form the inclusion path, leaf side first. */
export function inclusionRanges(m: number, lo: number, hi: number, out: LeafRange[] = []): LeafRange[] {
  if (hi - lo <= 1) return out;
  const k = splitPoint(hi - lo);
  if (m < lo + k) {
    inclusionRanges(m, lo, lo + k, out);
    out.push([lo + k, hi]);
  } else {
    inclusionRanges(m, lo + k, hi, out);
    out.push([lo, lo + k]);
  }
  return out;
}

/**
 * RFC 9162 2.1.4.1 SUBPROOF(m, D[lo:hi], b) where m counts leaves from lo; PROOF(m, D[n]) is
 * consistencyRanges(m, 0, n, true).
 */
export function consistencyRanges(
  m: number,
  lo: number,
  hi: number,
  complete: boolean,
  out: LeafRange[] = [],
): LeafRange[] {
  if (m === hi - lo) {
    if (!complete) out.push([lo, hi]);
    return out;
  }
  const k = splitPoint(hi - lo);
  if (m <= k) {
    consistencyRanges(m, lo, lo + k, complete, out);
    out.push([lo + k, hi]);
  } else {
    consistencyRanges(m - k, lo + k, hi, false, out);
    out.push([lo, lo + k]);
  }
  return out;
}

/**
 * The stored nodes that cover [lo, hi): largest first, left to right. Folding their hashes from
 * the right gives MTH(D[lo:hi]), because RFC 9162's split always takes the largest power of two
 * first. Every range the RFC recursion asks for starts on a multiple of its own first subtree,
 * so each piece is one stored node; anything else is a programming error.
 */
export function rangeNodes(lo: number, hi: number): NodeId[] {
  const ids: NodeId[] = [];
  for (let start = lo; start < hi;) {
    let size = 1;
    let level = 0;
    while (size * 2 <= hi - start) {
      size *= 2;
      level++;
    }
    if (start % size !== 0) throw new Error(`range [${lo}, ${hi}) is not aligned to stored subtrees`);
    ids.push({ level, index: start / size });
    start += size;
  }
  return ids;
}

/**
 * The compact range of the first `size` leaves: the maximal complete subtrees covering [0, size),
 * largest first, one per set bit of `size` (RFC 9162 2.1's split takes the largest power of two
 * first). Folding their hashes from the right gives MTH(D[size]). A log that drops the leaves
 * before a cut keeps these hashes; with them, every later root and every proof for a kept leaf
 * or from a tree size at or after the cut can still be computed (see `prunableIndexLimit`).
 */
export function compactRange(size: number): NodeId[] {
  if (!isTreeSize(size)) throw new RangeError(`size must be a non-negative safe integer, got ${size}.`);
  return rangeNodes(0, size);
}

/**
 * After the leaves before `cut` are dropped, the nodes of `level` with an index below this bound
 * lie strictly inside one of the compact range's subtrees and may be deleted: no root of a size
 * at or after the cut, no inclusion proof for a leaf at or after it and no consistency proof from
 * a size at or after it reads them (each reads whole compact-range subtrees of the cut, or nodes
 * that end after it). The compact-range node of this level, if any, is the one index above.
 */
export function prunableIndexLimit(cut: number, level: number): number {
  return 2 * Math.floor(cut / 2 ** (level + 1));
}

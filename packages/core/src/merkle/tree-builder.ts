import { HASH_SIZE, emptyRoot, hashChildren, hashLeaf } from './hash.js';

/**
 * Recomputes a tree's root from its leaves in one pass with O(log n) memory: it keeps only the
 * roots of the complete subtrees that cover the leaves so far (a compact range), largest first.
 * Used by the offline verifier; a server uses the stored tree in tree.ts instead.
 */
export class TreeBuilder {
  readonly #stack: Uint8Array[] = [];
  #size = 0;

  /**
   * A builder that continues from a compact range (see `compactRange`): the hashes of the maximal
   * complete subtrees covering the first `size` leaves, largest first. For a log whose leaves
   * before `size` were dropped: check `root()` against the signed checkpoint at `size` first.
   */
  static fromCompactRange(size: number, hashes: readonly Uint8Array[]): TreeBuilder {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative safe integer, got ${size}.`);
    let bits = 0;
    for (let n = size; n > 0; n = Math.floor(n / 2)) bits += n % 2;
    if (hashes.length !== bits) throw new RangeError(`A compact range of ${size} leaves has ${bits} hashes, not ${hashes.length}.`);
    if (hashes.some((h) => h.length !== HASH_SIZE)) throw new RangeError('Compact range hashes are 32 bytes.');
    const tb = new TreeBuilder();
    for (const h of hashes) tb.#stack.push(Uint8Array.from(h));
    tb.#size = size;
    return tb;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds the next leaf's raw data (hashed with RFC 9162's 0x00 prefix). */
  append(data: Uint8Array): void {
    this.appendLeafHash(hashLeaf(data));
  }

  /** Adds the next leaf by its RFC 9162 leaf hash (32 bytes). */
  appendLeafHash(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new RangeError('A leaf hash is 32 bytes.');
    if (this.#size === Number.MAX_SAFE_INTEGER) throw new RangeError('The tree is at its maximum size.');
    let hash = leafHash;
    // Each trailing 1 bit of the old size is a complete subtree that the new leaf now pairs up with.
    for (let n = this.#size; n % 2 === 1; n = (n - 1) / 2) hash = hashChildren(this.#stack.pop() as Uint8Array, hash);
    this.#stack.push(hash);
    this.#size++;
  }

  /** RFC 9162 2.1.1 MTH of the leaves appended so far: the subtree roots folded from the right. */
  root(): Uint8Array {
    let acc = this.#stack.at(-1);
    if (acc === undefined) return emptyRoot();
    for (let i = this.#stack.length - 2; i >= 0; i--) acc = hashChildren(this.#stack[i] as Uint8Array, acc);
    return acc;
  }
}

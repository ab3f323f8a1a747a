import { prunableIndexLimit } from './ranges.js';
import { appendLeaves, type HashReader, type NodeId, type StoredNode } from './tree.js';

// Uint8Array.from copies; Buffer#slice (hashes are Buffers) would share memory.
const copy = (h: Uint8Array | undefined): Uint8Array | undefined => (h === undefined ? undefined : Uint8Array.from(h));

/** A node store in memory, for tests and small logs. Not safe for concurrent appends. */
export class MemoryHashStore implements HashReader {
  readonly #levels: Array<Array<Uint8Array | undefined>> = [];
  #size = 0;

  /** Number of leaves appended through `append`. */
  get size(): number {
    return this.#size;
  }

  getNodes(ids: readonly NodeId[]): Promise<Array<Uint8Array | undefined>> {
    // Copies, so a caller that edits a proof cannot edit the tree.
    return Promise.resolve(ids.map(({ level, index }) => copy(this.#levels[level]?.[index])));
  }

  putNodes(nodes: readonly StoredNode[]): void {
    for (const { level, index, hash } of nodes) (this.#levels[level] ??= [])[index] = Uint8Array.from(hash);
  }

  /** Deletes the nodes that lie strictly inside the compact range of [0, cut), as a pruned log does. */
  prune(cut: number): void {
    this.#levels.forEach((nodes, level) => {
      const limit = Math.min(nodes.length, prunableIndexLimit(cut, level));
      nodes.fill(undefined, 0, limit);
    });
  }

  /** Appends the leaves (raw data, hashed here) and returns the new size. */
  async append(...leaves: Uint8Array[]): Promise<number> {
    this.putNodes(await appendLeaves(this, this.#size, leaves));
    this.#size += leaves.length;
    return this.#size;
  }
}

export { AuditProofError, type AuditProofErrorCode } from './errors.js';
export { HASH_SIZE, emptyRoot, hashChildren, hashLeaf } from './hash.js';
export {
  type HashReader,
  type NodeId,
  type StoredNode,
  appendLeaves,
  consistencyProof,
  inclusionProof,
  treeHash,
} from './tree.js';
export { MemoryHashStore } from './memory-store.js';
export { verifyConsistency, verifyInclusion } from './verify.js';
export { TreeBuilder } from './tree-builder.js';
export { compactRange, prunableIndexLimit } from './ranges.js';

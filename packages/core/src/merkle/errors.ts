import { SightlineError } from '../errors.js';

export type AuditProofErrorCode =
  /** Well-formed proof whose hashes do not lead to the expected root (RFC 9162 2.1.3.2, 2.1.4.2). */
  | 'AUDIT_PROOF_INVALID'
  /** A proof that cannot be right whatever its hashes: bad sizes, index out of range, wrong length. */
  | 'AUDIT_PROOF_MALFORMED'
  /** A prover was asked for a leaf or size the request itself rules out (index ≥ size, old > new). */
  | 'AUDIT_RANGE_INVALID'
  /** The hash store lacks a node it must hold for that size: the size is beyond the tree, or the store is corrupt. */
  | 'AUDIT_NODE_MISSING';

export class AuditProofError extends SightlineError<AuditProofErrorCode> {}

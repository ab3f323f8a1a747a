import { createHash } from 'node:crypto';
import type { AuditRecord } from '../http/pipeline.js';

/** The largest leaf we store; larger parameter sets are replaced by their digest. */
export const MAX_EVENT_BYTES = 64 * 1024;

export interface AuditEvent extends AuditRecord {
  seq: number;
  project: string;
}

/** The project part of an SRN (`''` for global objects or non-SRN resources). */
export function projectOf(resource: string): string {
  const m = /^srn:sightline:([^:]*):/.exec(resource);
  return m?.[1] ?? '';
}

/**
 * The canonical leaf: JSON with a fixed key order, so the bytes hashed are
 * exactly the bytes exported and re-hashed by `sightline audit verify`.
 */
export function eventLine(e: AuditEvent): string {
  const ordered = {
    v: 1,
    seq: e.seq,
    time: new Date(e.time).toISOString(),
    requestId: e.requestId,
    principal: { type: e.principal.type, id: e.principal.id, name: e.principal.name },
    project: e.project,
    action: e.action,
    resource: e.resource,
    outcome: e.outcome,
    errorCode: e.errorCode ?? null,
    sourceIp: e.sourceIp,
    userAgent: e.userAgent,
    parameters: e.parameters,
  };
  let line = JSON.stringify(ordered);
  if (Buffer.byteLength(line) > MAX_EVENT_BYTES) {
    const digest = createHash('sha256').update(JSON.stringify(e.parameters)).digest('hex');
    line = JSON.stringify({ ...ordered, parameters: { truncated: true, sha256: digest } });
  }
  return line;
}

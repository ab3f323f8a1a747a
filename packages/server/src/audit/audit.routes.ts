import { z } from 'zod';
import { MAX_NOTE_BYTES } from '@sightline/core';
import { defineRoute, type Route } from '../http/router.js';
import type { AuditService } from './audit.service.js';

const ALL = 'srn:sightline:*:audit/*';
const intString = z.string().regex(/^\d{1,15}$/).transform(Number);
const timeString = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));

export const auditQuery = z
  .object({
    from: timeString.optional(),
    to: timeString.optional(),
    principal: z.string().max(128).optional(),
    action: z.string().max(128).optional(),
    resource: z.string().max(512).optional(),
    outcome: z.enum(['allowed', 'denied', 'failed']).optional(),
    project: z.string().max(63).optional(),
    after: intString.optional(),
    limit: intString.pipe(z.number().min(1).max(5000)).default(100),
  })
  .strict();

const eventSchema = z.object({ seq: z.number(), event: z.unknown() });
const baseSchema = z.object({ size: z.number(), compactRange: z.array(z.string()), checkpoint: z.string().nullable(), prunedAt: z.string().nullable() });
const exportSchema = z.object({ id: z.string(), from: z.number(), size: z.number(), rootHash: z.string(), principal: z.string(), createdAt: z.string() });
const pageQuery = z
  .object({ after: z.string().regex(/^-?\d{1,15}$/).transform(Number).default(-1), limit: intString.pipe(z.number().min(1).max(10000)).default(1000) })
  .strict();

export function auditRoutes(audit: AuditService): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/public-key',
      tag: 'audit',
      summary: 'The checkpoint verifier key (C2SP signed-note vkey and PEM); public so anyone can verify',
      auth: 'public',
      auditAction: false,
      response: z.object({ origin: z.string(), verifierKey: z.string(), publicKeyPem: z.string() }),
      handle: () => Promise.resolve(audit.publicKey()),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/events',
      tag: 'audit',
      summary: 'List audit events, oldest first, with filters; page with `after` (the last seq seen)',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: (ctx) => (ctx.query.project === undefined ? ALL : `srn:sightline:${ctx.query.project}:audit/*`),
      query: auditQuery,
      response: z.object({ events: z.array(eventSchema), next: z.number().nullable() }),
      handle: async (ctx) => {
        const q = ctx.query;
        const events = await audit.list({
          limit: q.limit,
          ...(q.from === undefined ? {} : { fromTime: q.from }),
          ...(q.to === undefined ? {} : { toTime: q.to }),
          ...(q.principal === undefined ? {} : { principal: q.principal }),
          ...(q.action === undefined ? {} : { action: q.action }),
          ...(q.resource === undefined ? {} : { resource: q.resource }),
          ...(q.outcome === undefined ? {} : { outcome: q.outcome }),
          ...(q.project === undefined ? {} : { project: q.project }),
          ...(q.after === undefined ? {} : { afterSeq: q.after }),
        });
        return { events, next: events.length === q.limit ? (events[events.length - 1]?.seq ?? null) : null };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/lines',
      tag: 'audit',
      summary: 'The raw leaf lines (exact hashed bytes) after `after`, for export and offline verification',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      query: z.object({ after: z.string().regex(/^-?\d{1,15}$/).transform(Number).default(-1), limit: intString.pipe(z.number().min(1).max(10000)).default(5000) }).strict(),
      response: z.object({ lines: z.array(z.object({ seq: z.number(), line: z.string() })) }),
      handle: async (ctx) => ({ lines: (await audit.lines(ctx.query.after, ctx.query.limit)).map((l) => ({ seq: Number(l.seq), line: l.line })) }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/checkpoints',
      tag: 'audit',
      summary: 'Signed checkpoints (C2SP tlog-checkpoint notes), oldest first; page with `after` (a size)',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      query: pageQuery,
      response: z.object({ checkpoints: z.array(z.object({ size: z.number(), note: z.string(), createdAt: z.string() })), next: z.number().nullable() }),
      handle: async (ctx) => {
        const checkpoints = await audit.checkpoints(ctx.query.after, ctx.query.limit);
        return { checkpoints, next: checkpoints.length === ctx.query.limit ? (checkpoints.at(-1)?.size ?? null) : null };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/consistency-chain',
      tag: 'audit',
      summary: 'RFC 9162 consistency proofs between consecutive checkpoints after `after`, a page at a time',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      query: pageQuery,
      response: z.object({ proofs: z.array(z.object({ from: z.number(), to: z.number(), proof: z.array(z.string()) })), next: z.number().nullable() }),
      handle: async (ctx) => {
        const proofs = await audit.consistencyChain(ctx.query.after, ctx.query.limit);
        return { proofs, next: proofs.length === ctx.query.limit ? (proofs.at(-1)?.to ?? null) : null };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/audit/checkpoints',
      tag: 'audit',
      summary: 'Sign a checkpoint of the log as it is now',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      transactional: false,
      response: z.object({ size: z.number(), note: z.string() }),
      handle: async () => {
        const cp = await audit.checkpoint();
        return { size: Number(cp.size), note: cp.note };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/events/:seq/proof',
      tag: 'audit',
      summary: 'An RFC 9162 inclusion proof of one event against a signed checkpoint',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      transactional: false,
      response: z.object({ seq: z.number(), line: z.string(), leafHash: z.string(), treeSize: z.number(), proof: z.array(z.string()), checkpoint: z.string() }),
      handle: (ctx) => audit.prove(Number.parseInt(ctx.params['seq'] ?? '', 10)),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/consistency',
      tag: 'audit',
      summary: 'An RFC 9162 consistency proof between two tree sizes',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      query: z.object({ from: intString, to: intString }).strict(),
      response: z.object({ from: z.number(), to: z.number(), proof: z.array(z.string()) }),
      handle: async (ctx) => ({ from: ctx.query.from, to: ctx.query.to, proof: await audit.consistency(ctx.query.from, ctx.query.to) }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/audit/verify',
      tag: 'audit',
      summary: 'Verify the live store: recompute the tree from every event and check every checkpoint',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      transactional: false,
      response: z.object({ events: z.number(), baseSize: z.number(), treeSize: z.number(), checkpoints: z.number(), signedSize: z.number() }),
      handle: () => audit.verifyLive(),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/base',
      tag: 'audit',
      summary: 'The retention cut: the first kept event, the compact range of the dropped ones and the signed checkpoint at the cut',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      response: baseSchema,
      handle: () => audit.base(),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/audit/exports',
      tag: 'audit',
      summary: 'Export receipts, newest first: the periods retention may drop',
      auth: 'authenticated',
      action: 'audit:Read',
      resource: () => ALL,
      query: z.object({ limit: intString.pipe(z.number().min(1).max(1000)).default(100) }).strict(),
      response: z.object({ exports: z.array(exportSchema) }),
      handle: async (ctx) => ({ exports: await audit.exports(ctx.query.limit) }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/audit/exports',
      tag: 'audit',
      summary: 'Record that an export held events [from, size) ending on the signed checkpoint of size (sent by "sightline audit export")',
      auth: 'authenticated',
      // Exporting is reading the trail; the receipt only lets retention drop what a reader holds.
      action: 'audit:Read',
      resource: () => ALL,
      status: 201,
      body: z
        .object({
          from: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
          size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
          checkpoint: z.string().min(1).max(MAX_NOTE_BYTES),
        })
        .strict(),
      response: exportSchema,
      handle: (ctx) => audit.recordExport(ctx.principal ?? { type: 'anonymous', name: '' }, ctx.body),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/audit/prune',
      tag: 'audit',
      summary: 'Run the retention job now: drop exported periods older than audit.retentionDays (never an unexported one)',
      auth: 'authenticated',
      // It drops only what the configured job would drop on its next run, but it deletes: Admin only.
      action: 'audit:Prune',
      resource: () => ALL,
      response: z.object({ pruned: z.boolean(), dropped: z.number(), reason: z.string().optional(), base: baseSchema }),
      handle: (ctx) => audit.prune(ctx.principal === undefined ? undefined : { type: ctx.principal.type, id: ctx.principal.id, name: ctx.principal.name }),
    }),
  ];
}

import { z } from 'zod';
import { logViews, safeName, safeText } from '@sightline/protocol';
import { defineRoute, type Route } from '../http/router.js';
import { keyCaller } from '../kms/kms.routes.js';
import { queryTime } from './log-codec.js';
import { MAX_WAIT_SECONDS, type LogService } from './log.service.js';

const { groupView } = logViews;
const retentionDays = z.number().int().min(1).max(3650);

const intString = z
  .string()
  .regex(/^\d{1,6}$/)
  .transform(Number);

const p = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['project'] ?? '';
const g = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['group'] ?? '';
const groupSrn = (ctx: { params: Readonly<Record<string, string>> }): string => `srn:sightline:${p(ctx)}:log-group/${g(ctx)}`;

/**
 * The body may be larger than the batch it carries (JSON syntax, escapes), so
 * the transport allows twice the configured batch cap plus slack, and the
 * service applies the real cap with its own code.
 */
export function logRoutes(logs: LogService): Route[] {
  const maxBatchBytes = logs.settings.maxBatchBytes;
  const base = '/api/v1/projects/:project/log-groups';
  return [
    defineRoute({
      method: 'POST',
      path: base,
      tag: 'logs',
      summary: 'Create a log group: encrypted with the service logs key, or a customer-managed key; retention 1-3650 days (default 30)',
      auth: 'authenticated',
      action: 'logs:CreateGroup',
      resource: (ctx) => `srn:sightline:${p(ctx)}:log-group/${ctx.body.name}`,
      body: z
        .object({
          name: safeName('name'),
          description: safeText('description', { max: 512 }).default(''),
          kmsKey: safeName('kmsKey').optional(),
          retentionDays: retentionDays.optional(),
        })
        .strict(),
      response: groupView,
      status: 201,
      handle: (ctx) => logs.createGroup(keyCaller(ctx), p(ctx), ctx.body),
    }),
    defineRoute({
      method: 'GET',
      path: base,
      tag: 'logs',
      summary: 'List the log groups of a project',
      auth: 'authenticated',
      action: 'logs:ListGroups',
      resource: (ctx) => `srn:sightline:${p(ctx)}:log-group/*`,
      response: logViews.groupList,
      handle: async (ctx) => ({ groups: await logs.listGroups(p(ctx)) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:group`,
      tag: 'logs',
      summary: 'Describe a log group',
      auth: 'authenticated',
      action: 'logs:ListGroups',
      resource: groupSrn,
      response: groupView,
      handle: (ctx) => logs.describeGroup(p(ctx), g(ctx)),
    }),
    defineRoute({
      method: 'PATCH',
      path: `${base}/:group`,
      tag: 'logs',
      summary: 'Change a log group: retention, description, or key (kmsKey null: back to the service key; new batches only)',
      auth: 'authenticated',
      action: 'logs:UpdateGroup',
      resource: groupSrn,
      body: z
        .object({
          description: safeText('description', { max: 512 }).optional(),
          kmsKey: safeName('kmsKey').nullable().optional(),
          retentionDays: retentionDays.optional(),
        })
        .strict(),
      response: groupView,
      handle: (ctx) => logs.updateGroup(keyCaller(ctx), p(ctx), g(ctx), ctx.body),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:group/streams`,
      tag: 'logs',
      summary: 'List the streams of a log group',
      auth: 'authenticated',
      action: 'logs:ListGroups',
      resource: groupSrn,
      response: logViews.streamList,
      handle: async (ctx) => ({ streams: await logs.listStreams(p(ctx), g(ctx)) }),
    }),
    defineRoute({
      method: 'POST',
      path: `${base}/:group/streams/:stream/events`,
      tag: 'logs',
      summary: 'Store a batch of events (stream created on first use); the batch is gzipped and sealed under its own data key',
      auth: 'authenticated',
      action: 'logs:Write',
      resource: groupSrn,
      // Each event's shape and the caps are checked by the service in one pass (a batch holds up to 10,000).
      body: z.object({ events: z.array(z.unknown()) }).strict(),
      maxBodyBytes: 2 * maxBatchBytes + 64 * 1024,
      // The lines are the content being protected: the audit trail records the call, not them.
      secretFields: ['events'],
      status: 201,
      response: z.object({ stream: z.string(), count: z.number(), firstTime: z.string(), lastTime: z.string(), sequence: z.number() }),
      // Validation and gzip run outside any transaction; the writes commit with the call's audit event (ctx.commit).
      transactional: false,
      handle: (ctx) => logs.ingest(keyCaller(ctx), p(ctx), g(ctx), ctx.params['stream'] ?? '', ctx.body.events, ctx.commit),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:group/events`,
      tag: 'logs',
      summary: `Read events (storage order; filters stream, since, until, grep; pages with after=nextToken; wait=1-${MAX_WAIT_SECONDS} long-polls for new events)`,
      auth: 'authenticated',
      action: 'logs:Read',
      resource: groupSrn,
      query: z
        .object({
          stream: z.string().max(128).optional(),
          since: z.string().max(40).optional(),
          until: z.string().max(40).optional(),
          grep: z.string().min(1).max(256).optional(),
          limit: intString.pipe(z.number().min(1).max(10_000)).default(1000),
          after: z.string().max(64).optional(),
          wait: intString.pipe(z.number().min(0).max(MAX_WAIT_SECONDS)).default(0),
        })
        .strict(),
      // A search term may be the very value someone hunts for; the trail records that a search ran.
      secretFields: ['grep'],
      // A long poll must not hold a transaction (and SQLite's one connection) open while it waits.
      transactional: false,
      response: logViews.eventPage,
      handle: (ctx) =>
        logs.read(keyCaller(ctx), p(ctx), g(ctx), {
          stream: ctx.query.stream,
          since: queryTime('since', ctx.query.since),
          until: queryTime('until', ctx.query.until),
          grep: ctx.query.grep,
          limit: ctx.query.limit,
          after: ctx.query.after,
          wait: ctx.query.wait,
          signal: ctx.signal,
        }),
    }),
  ];
}

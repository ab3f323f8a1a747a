import { z } from 'zod';
import { kmsKeyRef } from './views-keys.js';

/**
 * Log groups, streams and events as the operator API
 * (`/api/v1/projects/:project/log-groups`) shows them.
 */

export const groupView = z.object({
  project: z.string(),
  name: z.string(),
  description: z.string(),
  kmsKey: kmsKeyRef,
  retentionDays: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type GroupView = z.infer<typeof groupView>;

export const groupList = z.object({ groups: z.array(groupView) });

export const streamList = z.object({
  streams: z.array(z.object({ name: z.string(), createdAt: z.string(), lastEventTime: z.string().nullable(), chunks: z.number() })),
});

export const logEvent = z.object({
  time: z.string(),
  stream: z.string(),
  message: z.string(),
  level: z.string().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type LogEvent = z.infer<typeof logEvent>;

/** One page of events; `nextToken` continues it. */
export const eventPage = z.object({ events: z.array(logEvent), nextToken: z.string() });

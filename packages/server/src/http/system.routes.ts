import { z } from 'zod';
import { defineRoute, type Route } from './router.js';
import { openApiDocument } from './openapi.js';

export const SERVER_VERSION = '0.1.0';

export function systemRoutes(getRoutes: () => readonly Route[]): Route[] {
  let cached: unknown;
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/health',
      tag: 'system',
      summary: 'Liveness: the server answers',
      auth: 'public',
      auditAction: false,
      response: z.object({ status: z.literal('ok'), version: z.string() }),
      handle: () => Promise.resolve({ status: 'ok' as const, version: SERVER_VERSION }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/openapi.json',
      tag: 'system',
      summary: 'This API as an OpenAPI 3.0 document',
      auth: 'public',
      auditAction: false,
      handle: () => {
        cached ??= openApiDocument(getRoutes(), SERVER_VERSION);
        return Promise.resolve(cached);
      },
    }),
  ];
}

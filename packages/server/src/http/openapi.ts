import { z } from 'zod';
import type { Route } from './router.js';

function schemaOf(s: z.ZodType, io: 'input' | 'output'): unknown {
  return z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'openapi-3.0' });
}

/** The OpenAPI 3.0 document, generated from the same zod schemas the pipeline validates with. */
export function openApiDocument(routes: readonly Route[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    // `:name+` (several segments) is one {name} whose value may hold "/".
    const path = r.path.replace(/:([a-zA-Z]+)\+?/g, '{$1}');
    const params = [...r.path.matchAll(/:([a-zA-Z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${r.path.replace(/\+/g, '').replace(/[/:]+([a-z])/gi, (_m, c: string) => c.toUpperCase())}`,
      ...(r.action === undefined ? {} : { 'x-sightline-action': r.action }),
      security: r.auth === 'public' ? [] : [{ bearer: [] }],
      parameters: params,
      responses: {
        [String(r.status ?? 200)]: {
          description: 'Success',
          ...(r.response === undefined ? {} : { content: { 'application/json': { schema: schemaOf(r.response, 'output') } } }),
          ...(r.produces === undefined ? {} : { content: { [r.produces]: { schema: { type: 'string', format: 'binary' } } } }),
        },
        default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    };
    if (r.body !== undefined) {
      op['requestBody'] = { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Sightline control plane API', version },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A session token (sls_…) from /api/v1/auth/login, or an API key (slk_…).' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } },
            },
          },
        },
      },
    },
  };
}

import { z } from 'zod';
import { safeName, safeText, secretViews } from '@sightline/protocol';
import { defineRoute, type Route } from '../http/router.js';
import { keyCaller } from '../kms/kms.routes.js';
import { MAX_SECRET_VALUE_BYTES, type SecretService } from './secret.service.js';

/**
 * A value: a string, or a flat object of strings (`{ username, password }`).
 * Never screened or echoed: it is the secret. The service caps its size.
 */
const secretValue = z.union([
  z.string().min(1),
  z
    .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'keys are 1 to 64 of letters, digits, ".", "_" and "-"'), z.string())
    .refine((o) => Object.keys(o).length >= 1 && Object.keys(o).length <= 32, 'an object value has 1 to 32 keys'),
]);

const { secretView } = secretViews;

const p = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['project'] ?? '';
const n = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['name'] ?? '';
const secretSrn = (ctx: { params: Readonly<Record<string, string>> }): string => `srn:sightline:${p(ctx)}:secret/${n(ctx)}`;

/** JSON escaping can triple a value's bytes; the service checks the real cap. */
const MAX_BODY = 4 * MAX_SECRET_VALUE_BYTES;

export function secretRoutes(secrets: SecretService): Route[] {
  const base = '/api/v1/projects/:project/secrets';
  return [
    defineRoute({
      method: 'POST',
      path: base,
      tag: 'secrets',
      summary: 'Create a secret (camera credentials); the value is sealed under its own data key and never logged or audited',
      auth: 'authenticated',
      action: 'secret:Create',
      resource: (ctx) => `srn:sightline:${p(ctx)}:secret/${ctx.body.name}`,
      body: z
        .object({
          name: safeName('name'),
          description: safeText('description', { max: 512 }).default(''),
          value: secretValue,
          kmsKey: safeName('kmsKey').optional(),
        })
        .strict(),
      maxBodyBytes: MAX_BODY,
      secretFields: ['value'],
      response: secretView,
      status: 201,
      handle: (ctx) =>
        secrets.create(keyCaller(ctx), p(ctx), {
          name: ctx.body.name,
          description: ctx.body.description,
          value: ctx.body.value,
          ...(ctx.body.kmsKey === undefined ? {} : { kmsKey: ctx.body.kmsKey }),
        }),
    }),
    defineRoute({
      method: 'GET',
      path: base,
      tag: 'secrets',
      summary: 'List the secrets of a project (metadata only, never values)',
      auth: 'authenticated',
      action: 'secret:List',
      resource: (ctx) => `srn:sightline:${p(ctx)}:secret/*`,
      response: secretViews.secretList,
      handle: async (ctx) => ({ secrets: await secrets.list(p(ctx)) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:name`,
      tag: 'secrets',
      summary: 'Describe a secret (metadata only, never the value)',
      auth: 'authenticated',
      action: 'secret:Get',
      resource: secretSrn,
      response: secretView,
      handle: (ctx) => secrets.describe(p(ctx), n(ctx)),
    }),
    defineRoute({
      method: 'POST',
      path: `${base}/:name/rotate`,
      tag: 'secrets',
      summary: 'Store a new value (version + 1, fresh data key)',
      auth: 'authenticated',
      action: 'secret:Rotate',
      resource: secretSrn,
      body: z.object({ value: secretValue }).strict(),
      maxBodyBytes: MAX_BODY,
      secretFields: ['value'],
      response: secretView,
      handle: (ctx) => secrets.rotate(keyCaller(ctx), p(ctx), n(ctx), ctx.body.value),
    }),
    defineRoute({
      method: 'DELETE',
      path: `${base}/:name`,
      tag: 'secrets',
      summary: 'Delete a secret and its sealed value',
      auth: 'authenticated',
      action: 'secret:Delete',
      resource: secretSrn,
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await secrets.delete(p(ctx), n(ctx));
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${base}/:name/value`,
      tag: 'secrets',
      summary: 'Read a secret value: people with an MFA-present session only (the CLI asks for --reveal); every read is audited',
      auth: 'authenticated',
      action: 'secret:ReadValue',
      resource: secretSrn,
      response: z.object({ name: z.string(), version: z.number(), value: secretValue }),
      handle: (ctx) => secrets.readValue(keyCaller(ctx), p(ctx), n(ctx)),
    }),
  ];
}

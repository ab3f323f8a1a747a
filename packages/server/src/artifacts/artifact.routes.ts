import { z } from 'zod';
import { artifactViews, safeName } from '@sightline/protocol';
import { HttpError } from '../http/http-error.js';
import { defineRoute, StreamBody, type Route } from '../http/router.js';
import { keyCaller } from '../kms/kms.routes.js';
import { artifactSrn, assertArtifactName } from './artifact-name.js';
import type { ArtifactService } from './artifact.service.js';

const { artifactView } = artifactViews;

type Params = { params: Readonly<Record<string, string>> };
const p = (ctx: Params): string => ctx.params['project'] ?? '';
const n = (ctx: Params): string => ctx.params['name'] ?? '';
/** Validates the name before it becomes an SRN, so a bad one is ARTIFACT_NAME_INVALID, not a policy error. */
const srn = (ctx: Params): string => {
  assertArtifactName(n(ctx));
  return artifactSrn(p(ctx), n(ctx));
};

/** Header carrying the plaintext SHA-256 (hex), on uploads (optional, checked) and downloads (always). */
export const SHA256_HEADER = 'x-sightline-sha256';

/**
 * The artifact store's API. Names may hold `/` (`models/blazeface/1.0.0.onnx`),
 * so they take the rest of the path (`:name+`); the download route comes first
 * because it is the more specific one.
 */
export function artifactRoutes(artifacts: ArtifactService): Route[] {
  const base = '/api/v1/projects/:project/artifacts';
  return [
    defineRoute({
      method: 'GET',
      path: `${base}/:name+/content`,
      tag: 'artifacts',
      summary: 'Download an artifact: the plaintext, streamed, with Content-Length and x-sightline-sha256 (a fault cuts the transfer)',
      auth: 'authenticated',
      action: 'artifact:Get',
      resource: srn,
      transactional: false,
      handle: async (ctx) => {
        const { artifact, stream } = await artifacts.open(p(ctx), n(ctx), keyCaller(ctx));
        return new StreamBody(stream, 'application/octet-stream', artifact.size, {
          [SHA256_HEADER]: artifact.sha256,
          'Cache-Control': 'no-store',
        });
      },
    }),
    defineRoute({
      method: 'PUT',
      path: `${base}/:name+`,
      tag: 'artifacts',
      summary:
        'Upload an artifact (application/octet-stream, streamed; encrypted under a fresh data key). Send x-sightline-sha256 to have the content checked; ?overwrite=true to replace',
      auth: 'authenticated',
      action: 'artifact:Put',
      resource: srn,
      rawBody: { contentType: 'application/octet-stream', maxBytes: artifacts.maxObjectBytes },
      query: z
        .object({
          overwrite: z.enum(['true', 'false']).optional(),
          /** A customer-managed key of the project, by name (default: the service key for artifacts). */
          key: safeName('key').optional(),
        })
        .strict(),
      response: artifactView,
      status: 201,
      // Long: the bytes stream outside any transaction; the row commits with the audit event at the end.
      transactional: false,
      handle: (ctx) => {
        if (ctx.raw === undefined) throw new HttpError('INTERNAL', 'The upload body is missing.');
        const sha = ctx.headers[SHA256_HEADER];
        if (Array.isArray(sha)) throw new HttpError('VALIDATION_FAILED', `Send ${SHA256_HEADER} once.`);
        return artifacts.put(
          p(ctx),
          n(ctx),
          ctx.raw,
          {
            ...(ctx.rawLength === undefined ? {} : { declaredLength: ctx.rawLength }),
            ...(sha === undefined ? {} : { expectedSha256: sha.trim() }),
            ...(ctx.query.key === undefined ? {} : { keyName: ctx.query.key }),
            overwrite: ctx.query.overwrite === 'true',
          },
          keyCaller(ctx),
          ctx.commit,
        );
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:name+`,
      tag: 'artifacts',
      summary: 'Describe an artifact: size, SHA-256, key, when and by whom (metadata only; for progress bars)',
      auth: 'authenticated',
      // Metadata, as ReadOnly may see it; artifact:Get is the content read.
      action: 'artifact:List',
      resource: srn,
      response: artifactView,
      handle: (ctx) => artifacts.get(p(ctx), n(ctx)),
    }),
    defineRoute({
      method: 'GET',
      path: base,
      tag: 'artifacts',
      summary: 'List artifacts in name order, optionally under a prefix; page with ?after=<next>',
      auth: 'authenticated',
      action: 'artifact:List',
      resource: (ctx) => `srn:sightline:${p(ctx)}:artifact/*`,
      query: z
        .object({
          prefix: z.string().max(256).default(''),
          after: z.string().min(1).max(256).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(1000),
        })
        .strict(),
      response: artifactViews.artifactList,
      handle: (ctx) => artifacts.list(p(ctx), ctx.query.prefix, ctx.query.after, ctx.query.limit),
    }),
    defineRoute({
      method: 'DELETE',
      path: `${base}/:name+`,
      tag: 'artifacts',
      summary: 'Delete an artifact: its row and data key first (unreadable from then on), then its bytes',
      auth: 'authenticated',
      action: 'artifact:Delete',
      resource: srn,
      status: 204,
      transactional: false,
      handle: async (ctx) => {
        await artifacts.delete(p(ctx), n(ctx), ctx.commit);
        return undefined;
      },
    }),
  ];
}

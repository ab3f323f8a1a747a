import { z } from 'zod';
import { appsApi } from '@sightline/protocol';
import { defineRoute, type Principal, type Route } from '../http/router.js';
import type { PackageService } from './package.service.js';

type Params = { params: Readonly<Record<string, string>> };
const p = (ctx: Params): string => ctx.params['project'] ?? '';
const n = (ctx: Params): string => ctx.params['name'] ?? '';
const who = (ctx: { principal: Principal | undefined }): Principal => {
  if (ctx.principal === undefined) throw new Error('package routes need a principal');
  return ctx.principal;
};

const packageFile = z.object({ path: z.string(), bytes: z.number(), sha256: z.string() });
const versionView = z.object({
  name: z.string(),
  version: z.string(),
  kind: appsApi.packageKind,
  keyId: z.string(),
  signer: z.string().nullable(),
  files: z.array(packageFile),
  bytes: z.number(),
  createdAt: z.string(),
  createdBy: z.string(),
});
const keyView = z.object({ name: z.string(), keyId: z.string(), publicKey: z.string(), createdAt: z.string(), createdBy: z.string() });
const policyView = z.object({
  requireSignedBy: z.array(z.string()),
  keyIds: z.array(z.string()),
  updatedAt: z.string().nullable(),
  updatedBy: z.string().nullable(),
});

/** Packages, signing keys and the package policy (issue 6), under /api/v1/projects/:project. */
export function packageRoutes(packages: PackageService): Route[] {
  const base = '/api/v1/projects/:project';
  const pkgSrn = (ctx: Params): string => `srn:sightline:${p(ctx)}:package/${n(ctx)}`;
  const keySrn = (ctx: Params): string => `srn:sightline:${p(ctx)}:signing-key/${n(ctx)}`;
  const allPackages = (ctx: Params): string => `srn:sightline:${p(ctx)}:package/*`;
  return [
    defineRoute({
      method: 'POST',
      path: `${base}/packages`,
      tag: 'packages',
      summary:
        'Register a package version: the signed manifest (base64 of its exact bytes) and its Ed25519 signature; every file must already be uploaded as artifact packages/blobs/<sha256>. Versions are immutable',
      auth: 'authenticated',
      action: 'package:Push',
      resource: allPackages,
      body: z.object({ manifestB64: z.string().min(1).max(2 * 1024 * 1024), signature: appsApi.packageSignature }).strict(),
      maxBodyBytes: 2 * 1024 * 1024 + 16 * 1024,
      response: z.object({ package: versionView }),
      status: 201,
      handle: async (ctx) => ({ package: await packages.push(who(ctx), p(ctx), ctx.body.manifestB64, ctx.body.signature) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/packages`,
      tag: 'packages',
      summary: 'List packages: kind, latest version and how many versions',
      auth: 'authenticated',
      action: 'package:List',
      resource: allPackages,
      response: z.object({ packages: z.array(z.object({ name: z.string(), kind: appsApi.packageKind, latestVersion: z.string(), versions: z.number() })) }),
      handle: async (ctx) => ({ packages: await packages.list(p(ctx)) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/packages/:name`,
      tag: 'packages',
      summary: 'A package and its versions, oldest first',
      auth: 'authenticated',
      action: 'package:Get',
      resource: pkgSrn,
      response: z.object({ name: z.string(), kind: appsApi.packageKind, versions: z.array(versionView) }),
      handle: (ctx) => packages.describe(p(ctx), n(ctx)),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/packages/:name/versions/:version`,
      tag: 'packages',
      summary: 'One package version: signer, files, size',
      auth: 'authenticated',
      action: 'package:Get',
      resource: pkgSrn,
      response: z.object({ package: versionView }),
      handle: async (ctx) => ({ package: await packages.version(p(ctx), n(ctx), ctx.params['version'] ?? '') }),
    }),
    defineRoute({
      method: 'POST',
      path: `${base}/signing-keys`,
      tag: 'packages',
      summary: 'Register a package signing key (the public half: raw 32-byte Ed25519 key, base64)',
      auth: 'authenticated',
      action: 'signing-key:Create',
      resource: (ctx) => `srn:sightline:${p(ctx)}:signing-key/${ctx.body.name}`,
      body: z.object({ name: appsApi.packageName, publicKey: z.string().max(64) }).strict(),
      response: z.object({ key: keyView }),
      status: 201,
      handle: async (ctx) => ({ key: await packages.createKey(who(ctx), p(ctx), ctx.body.name, ctx.body.publicKey) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/signing-keys`,
      tag: 'packages',
      summary: 'List the registered package signing keys',
      auth: 'authenticated',
      action: 'signing-key:List',
      resource: (ctx) => `srn:sightline:${p(ctx)}:signing-key/*`,
      response: z.object({ keys: z.array(keyView) }),
      handle: async (ctx) => ({ keys: await packages.keys(p(ctx)) }),
    }),
    defineRoute({
      method: 'DELETE',
      path: `${base}/signing-keys/:name`,
      tag: 'packages',
      summary: 'Remove a signing key (refused while the package policy lists it)',
      auth: 'authenticated',
      action: 'signing-key:Delete',
      resource: keySrn,
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await packages.deleteKey(p(ctx), n(ctx));
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: `${base}/package-policy`,
      tag: 'packages',
      summary: 'Set which signing keys packages must be signed by to be pushed and deployed (empty: any valid signature)',
      auth: 'authenticated',
      action: 'package:SetPolicy',
      resource: allPackages,
      body: z.object({ requireSignedBy: z.array(appsApi.packageName).max(64) }).strict(),
      response: z.object({ policy: policyView }),
      handle: async (ctx) => ({ policy: await packages.setPolicy(who(ctx), p(ctx), ctx.body.requireSignedBy) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/package-policy`,
      tag: 'packages',
      summary: 'The package policy: the signing keys packages must be signed by',
      auth: 'authenticated',
      action: 'package:Get',
      resource: allPackages,
      response: z.object({ policy: policyView }),
      handle: async (ctx) => ({ policy: await packages.policy(p(ctx)) }),
    }),
  ];
}

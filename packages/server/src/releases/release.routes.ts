import { Readable } from 'node:stream';
import { z } from 'zod';
import { releaseViews, safeName } from '@sightline/protocol';
import { defineRoute, StreamBody, type Principal, type Route } from '../http/router.js';
import { DeviceError } from '../devices/device-errors.js';
import type { DevicePrincipal } from '../devices/device.service.js';
import type { ReleaseService } from './release.service.js';

const p = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['project'] ?? '';
const n = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['name'] ?? '';
const RELEASES = 'srn:sightline::release/*';
const version = z.string().regex(/^\d{1,9}\.\d{1,9}\.\d{1,9}(?:-[0-9A-Za-z.-]{1,64})?$/, 'a release version such as 1.2.0');
/** Signed TUF metadata as JSON; @sightline/core checks its shape and signatures. */
const metadataJson = z.record(z.string(), z.unknown());

const { updateJobView } = releaseViews;
const oneJob = z.object({ job: updateJobView });

/** The operator's side: publish and list releases, rotate the root, update devices and follow their jobs. */
export function releaseRoutes(releases: ReleaseService): Route[] {
  const devices = '/api/v1/projects/:project/devices';
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/releases',
      tag: 'releases',
      summary: 'List agent releases with the TUF repository\'s root and targets versions',
      auth: 'authenticated',
      action: 'release:List',
      resource: () => RELEASES,
      handle: () => releases.list(),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/releases/online-keys',
      tag: 'releases',
      summary: 'The public snapshot and timestamp keys this control plane signs with (for a new root)',
      auth: 'authenticated',
      action: 'release:List',
      resource: () => RELEASES,
      handle: () => releases.onlineKeysView(),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/releases/root',
      tag: 'releases',
      summary: 'The trusted root.json (newest version)',
      auth: 'authenticated',
      action: 'release:List',
      resource: () => RELEASES,
      handle: () => releases.currentRoot(),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/releases/targets',
      tag: 'releases',
      summary: 'The current targets.json, which the next offline signature builds on',
      auth: 'authenticated',
      action: 'release:List',
      resource: () => RELEASES,
      handle: async () => ({ targets: await releases.currentTargets() }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/releases',
      tag: 'releases',
      summary: 'Publish targets metadata signed offline (bundles uploaded first as artifacts releases/<target> in project default)',
      auth: 'authenticated',
      action: 'release:Publish',
      resource: () => RELEASES,
      body: z.object({ targets: metadataJson }).strict(),
      maxBodyBytes: 6 * 1024 * 1024,
      response: releaseViews.publishResponse,
      status: 201,
      handle: (ctx) => releases.publish(ctx.body.targets, ctx.principal?.name ?? ''),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/releases/root',
      tag: 'releases',
      summary: 'Install the first root.json or the next one (signed by the old root\'s threshold and its own)',
      auth: 'authenticated',
      action: 'release:Publish',
      resource: () => 'srn:sightline::release/root',
      body: z.object({ root: metadataJson }).strict(),
      maxBodyBytes: 1024 * 1024,
      response: releaseViews.rootInstalled,
      status: 201,
      handle: (ctx) => releases.installRoot(ctx.body.root),
    }),
    defineRoute({
      method: 'POST',
      path: `${devices}/:name/update`,
      tag: 'releases',
      summary: 'Queue a signed software update on a device (newest release unless a version is named)',
      auth: 'authenticated',
      action: 'device:UpdateSoftware',
      resource: (ctx) => `srn:sightline:${p(ctx)}:device/${n(ctx)}`,
      body: z.object({ version: version.optional() }).strict(),
      response: oneJob,
      status: 202,
      handle: async (ctx) => ({ job: await releases.createUpdate(p(ctx), n(ctx), ctx.body.version, ctx.principal?.name ?? '') }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/projects/:project/updates',
      tag: 'releases',
      summary: 'Queue a software update on several devices, or every registered one; refusals are listed',
      auth: 'authenticated',
      action: 'device:UpdateSoftware',
      resource: (ctx) => `srn:sightline:${p(ctx)}:device/*`,
      body: z.object({ version: version.optional(), devices: z.array(safeName('device')).min(1).max(10_000).optional() }).strict(),
      response: z.object({ jobs: z.array(updateJobView), refused: z.array(releaseViews.updateRefusal) }),
      status: 202,
      handle: (ctx) =>
        releases.fleetUpdate(
          p(ctx),
          { ...(ctx.body.version === undefined ? {} : { version: ctx.body.version }), ...(ctx.body.devices === undefined ? {} : { devices: ctx.body.devices }) },
          { principal: ctx.principal, requestId: ctx.requestId, sourceIp: ctx.sourceIp, userAgent: ctx.userAgent },
        ),
    }),
    defineRoute({
      method: 'GET',
      path: `${devices}/:name/jobs/:id`,
      tag: 'releases',
      summary: 'One job with per-stage progress; wait=SECONDS&since=<etag> long-polls (≤ 30 s) for a change',
      auth: 'authenticated',
      action: 'device:Get',
      resource: (ctx) => `srn:sightline:${p(ctx)}:device/${n(ctx)}`,
      query: z
        .object({
          wait: z.string().regex(/^\d{1,2}$/).transform(Number).pipe(z.number().max(30)).default(0),
          since: z.string().max(40).optional(),
        })
        .strict(),
      response: oneJob,
      handle: async (ctx) => ({ job: await releases.job(p(ctx), n(ctx), ctx.params['id'] ?? '', ctx.query.wait, ctx.query.since, ctx.signal) }),
    }),
  ];
}

function operational(principal: Principal | undefined): DevicePrincipal {
  if (principal?.type !== 'device') throw new DeviceError('CERT_REQUIRED', 'The device API needs a device certificate.');
  const d = principal as DevicePrincipal;
  if (d.certKind !== 'operational') throw new DeviceError('CERT_WRONG_KIND', 'The provisioning certificate may only register the device.');
  return d;
}

/** The device's side (mTLS): the TUF repository, consistent snapshots on. */
export function releaseDeviceRoutes(releases: ReleaseService): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/device/v1/tuf/metadata/:file',
      tag: 'device-api',
      summary: 'TUF metadata: N.root.json, timestamp.json, N.snapshot.json, N.targets.json',
      auth: 'device',
      auditAction: 'device:GetUpdateMetadata',
      handle: async (ctx) => {
        operational(ctx.principal);
        const body = await releases.metadataFile(ctx.params['file'] ?? '');
        return new StreamBody(Readable.from([body]), 'application/json', body.length, { 'cache-control': 'no-store' });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/device/v1/tuf/targets/:file',
      tag: 'device-api',
      summary: 'A release bundle by its consistent name <sha256>.sightline-agent-<version>.tar',
      auth: 'device',
      auditAction: 'device:GetUpdateTarget',
      handle: async (ctx) => {
        operational(ctx.principal);
        const t = await releases.targetFile(ctx.params['file'] ?? '', ctx.requestId, ctx.sourceIp);
        return new StreamBody(t.stream, 'application/octet-stream', t.length);
      },
    }),
  ];
}

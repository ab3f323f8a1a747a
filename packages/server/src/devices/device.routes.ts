import { z } from 'zod';
import { deviceApi, deviceViews, safeName } from '@sightline/protocol';
import { defineRoute, Reply, type Principal, type Route } from '../http/router.js';
import { DeviceError } from './device-errors.js';
import type { DevicePrincipal, DeviceService } from './device.service.js';
import type { LogService } from '../logs/log.service.js';

const p = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['project'] ?? '';
const n = (ctx: { params: Readonly<Record<string, string>> }): string => ctx.params['name'] ?? '';
const deviceSrn = (ctx: { params: Readonly<Record<string, string>> }): string => `srn:sightline:${p(ctx)}:device/${n(ctx)}`;
const { deviceView, deviceJob: okJob } = deviceViews;

function device(principal: Principal | undefined): DevicePrincipal {
  if (principal?.type !== 'device') throw new DeviceError('CERT_REQUIRED', 'The device API needs a device certificate.');
  return principal as DevicePrincipal;
}

/** The operator's side: provision, list, describe, change, deregister, jobs. */
/** The share of a long-poll's wait that it may end early (spreads a fleet's polls over time). */
export const LONG_POLL_JITTER = 0.2;

export function deviceRoutes(devices: DeviceService): Route[] {
  const base = '/api/v1/projects/:project/devices';
  const job = (kind: 'reboot' | 'shutdown' | 'reset', action: string, summary: string): Route =>
    defineRoute({
      method: 'POST',
      path: `${base}/:name/${kind}`,
      tag: 'devices',
      summary,
      auth: 'authenticated',
      action,
      resource: deviceSrn,
      response: okJob,
      status: 202,
      handle: (ctx) => devices.createJob(p(ctx), n(ctx), kind, ctx.principal?.name ?? ''),
    });
  return [
    defineRoute({
      method: 'POST',
      path: base,
      tag: 'devices',
      summary: 'Provision a device: returns its encrypted configuration archive and one-time passphrase, once',
      auth: 'authenticated',
      action: 'device:Provision',
      resource: (ctx) => `srn:sightline:${p(ctx)}:device/${ctx.body.name}`,
      body: z
        .object({
          name: safeName('name'),
          network: deviceApi.networkSettings.default({ mode: 'dhcp' }),
          ntp: z.array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/)).max(4).default([]),
          validityMinutes: z.number().int().min(5).max(10080).optional(),
        })
        .strict(),
      response: deviceViews.provisionResponse,
      status: 201,
      handle: async (ctx) => {
        const r = await devices.provision({
          project: p(ctx),
          name: ctx.body.name,
          network: ctx.body.network,
          ntp: ctx.body.ntp,
          ...(ctx.body.validityMinutes === undefined ? {} : { validityMinutes: ctx.body.validityMinutes }),
        });
        return { ...r, archive: Buffer.from(r.archive).toString('base64') };
      },
    }),
    defineRoute({
      method: 'GET',
      path: base,
      tag: 'devices',
      summary: 'List devices with online state, integrity and agent version',
      auth: 'authenticated',
      action: 'device:List',
      resource: (ctx) => `srn:sightline:${p(ctx)}:device/*`,
      response: deviceViews.deviceList,
      handle: async (ctx) => ({ devices: await devices.list(p(ctx)) }),
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/:name`,
      tag: 'devices',
      summary: 'Describe a device: last heartbeat, integrity, certificates',
      auth: 'authenticated',
      action: 'device:Get',
      resource: deviceSrn,
      handle: (ctx) => devices.describe(p(ctx), n(ctx)),
    }),
    defineRoute({
      method: 'PATCH',
      path: `${base}/:name`,
      tag: 'devices',
      summary: 'Rename a device or change its tags',
      auth: 'authenticated',
      action: 'device:Update',
      resource: deviceSrn,
      body: z
        .object({
          name: safeName('name').optional(),
          tags: z.record(safeName('tag key'), z.string().max(256)).optional(),
          removeTags: z.array(z.string().max(128)).max(50).default([]),
        })
        .strict(),
      response: deviceView,
      handle: async (ctx) => {
        let v = await devices.tag(p(ctx), n(ctx), ctx.body.tags ?? {}, ctx.body.removeTags);
        if (ctx.body.name !== undefined && ctx.body.name !== n(ctx)) v = await devices.rename(p(ctx), n(ctx), ctx.body.name);
        return v;
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${base}/:name/deregister`,
      tag: 'devices',
      summary: 'Deregister: revoke every certificate at once; the device then needs a full reset',
      auth: 'authenticated',
      action: 'device:Deregister',
      resource: deviceSrn,
      response: deviceView,
      handle: (ctx) => devices.deregister(p(ctx), n(ctx)),
    }),
    job('reboot', 'device:Reboot', 'Queue a reboot job'),
    job('shutdown', 'device:Reboot', 'Queue a shutdown job'),
    job('reset', 'device:Reset', 'Queue a full reset (crypto-erase) job; the certificates are revoked when it runs'),
    defineRoute({
      method: 'GET',
      path: `${base}/:name/jobs`,
      tag: 'devices',
      summary: 'The device\'s jobs, newest first, with their progress',
      auth: 'authenticated',
      action: 'device:Get',
      resource: deviceSrn,
      handle: async (ctx) => ({ jobs: await devices.jobs(p(ctx), n(ctx)) }),
    }),
  ];
}

/** The log group a device's own logs go to (one per device: retention and keys per device). */
export function deviceLogGroup(device: string): string {
  return `device-${device}`;
}

/** The log group of an app instance's logs (issue 6: an app log group per instance, encrypted under its own key). */
export function appLogGroup(instanceId: string): string {
  return `app-${instanceId}`;
}

/** Which instances a device's log stream `app-<instanceId>` may write for (its own only). */
export type AppLogOwnership = (deviceId: string, instanceId: string) => Promise<boolean>;

/** The device's side (mTLS): register, renew, desired state, heartbeat, jobs, logs. */
export function deviceApiRoutes(devices: DeviceService, logs: LogService, appLogs?: AppLogOwnership): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/device/v1/logs',
      tag: 'device-api',
      summary: 'Ship a batch of the agent\'s logs to the device\'s log group (encrypted at rest)',
      auth: 'device',
      auditAction: 'device:WriteLogs',
      // Checks and compression run outside the transaction; ctx.commit writes the chunk with its event.
      transactional: false,
      body: deviceApi.deviceLogBatch,
      maxBodyBytes: 2 * 1024 * 1024,
      secretFields: ['events'],
      response: z.object({ ok: z.literal(true), count: z.number() }),
      handle: async (ctx) => {
        const me = device(ctx.principal);
        devices.assertOperational(me);
        const caller = { principal: me, requestId: ctx.requestId, sourceIp: ctx.sourceIp };
        // An app's stream (`app-<instanceId>`) goes to that instance's own group, when the instance is this device's.
        const instanceId = /^app-(.+)$/.exec(ctx.body.stream)?.[1];
        const ownApp = instanceId !== undefined && appLogs !== undefined && (await appLogs(me.deviceId, instanceId));
        const group = ownApp ? appLogGroup(instanceId) : deviceLogGroup(me.name);
        await logs.ensureGroup(caller, me.project, group, ownApp ? `Logs of app instance ${instanceId} on device ${me.name}` : `Logs of device ${me.name}`);
        const events: unknown[] = ctx.body.events.map((e) => ({ time: e.time, level: e.level, message: e.message }));
        if (ctx.body.dropped > 0) {
          events.unshift({ time: ctx.body.events[0]?.time ?? new Date().toISOString(), level: 'warn', message: `The agent's spool dropped ${ctx.body.dropped} older log lines while it was offline (quota reached).` });
        }
        const r = await logs.ingest(caller, me.project, group, ctx.body.stream, events, ctx.commit);
        return { ok: true as const, count: r.count };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/device/v1/register',
      tag: 'device-api',
      summary: 'Trade the provisioning certificate (single use) and a CSR for an operational certificate',
      auth: 'device',
      auditAction: 'device:Register',
      body: deviceApi.registerRequest,
      response: deviceApi.registerResponse,
      handle: (ctx) => devices.register(device(ctx.principal), ctx.body.csrPem),
    }),
    defineRoute({
      method: 'POST',
      path: '/device/v1/certificate/renew',
      tag: 'device-api',
      summary: 'Renew the operational certificate with a new key',
      auth: 'device',
      auditAction: 'device:RenewCertificate',
      body: deviceApi.renewRequest,
      response: deviceApi.renewResponse,
      handle: (ctx) => devices.renew(device(ctx.principal), ctx.body.csrPem),
    }),
    defineRoute({
      method: 'GET',
      path: '/device/v1/desired-state',
      tag: 'device-api',
      summary: 'Long-poll for the desired state (If-None-Match + wait, at most 30 s); 304 when unchanged',
      auth: 'device',
      auditAction: 'device:GetDesiredState',
      query: z.object({ wait: z.string().regex(/^\d{1,2}$/).transform(Number).pipe(z.number().max(30)).default(0) }).strict(),
      response: deviceApi.desiredState,
      handle: async (ctx) => {
        const me = device(ctx.principal);
        devices.assertOperational(me);
        const etag = typeof ctx.headers['if-none-match'] === 'string' ? ctx.headers['if-none-match'].replaceAll('"', '') : undefined;
        // Up to a fifth shorter, at random: a fleet that (re)connected at once, after a control-plane
        // restart, would otherwise keep answering and re-polling in bursts every 30 s; this spreads it.
        const state = await devices.waitForChange(me, etag, ctx.query.wait * 1000 * (1 - LONG_POLL_JITTER * Math.random()), ctx.signal);
        if (state === undefined) return new Reply(304, undefined, { ETag: `"${etag ?? ''}"` });
        return new Reply(200, state, { ETag: `"${state.etag}"` });
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/device/v1/heartbeat',
      tag: 'device-api',
      summary: 'Report status: agent version, uptime, integrity, disk, memory, CPU',
      auth: 'device',
      auditAction: 'device:Heartbeat',
      body: deviceApi.heartbeatRequest,
      response: deviceApi.heartbeatResponse,
      handle: async (ctx) => {
        await devices.heartbeat(device(ctx.principal), ctx.body, ctx.requestId, ctx.sourceIp);
        return { ok: true as const, serverTime: new Date().toISOString() };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/device/v1/jobs/:id',
      tag: 'device-api',
      summary: 'Report a job\'s progress',
      auth: 'device',
      auditAction: 'device:UpdateJob',
      body: deviceApi.jobUpdateRequest,
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        const { stage, bytesDone, bytesTotal } = ctx.body;
        await devices.updateJob(device(ctx.principal), ctx.params['id'] ?? '', ctx.body.status, ctx.body.message, {
          ...(stage === undefined ? {} : { stage }),
          ...(bytesDone === undefined ? {} : { bytesDone }),
          ...(bytesTotal === undefined ? {} : { bytesTotal }),
        });
        return { ok: true as const };
      },
    }),
  ];
}

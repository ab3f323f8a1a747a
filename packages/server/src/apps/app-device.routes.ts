import { z } from 'zod';
import { appsApi } from '@sightline/protocol';
import type { ArtifactService } from '../artifacts/artifact.service.js';
import type { CameraRepository } from '../cameras/camera.repository.js';
import { DeviceError } from '../devices/device-errors.js';
import type { DevicePrincipal, DeviceService } from '../devices/device.service.js';
import { defineRoute, Reply, StreamBody, type Principal, type RequestContext, type Route } from '../http/router.js';
import { blobArtifactName } from '../packages/package.service.js';
import type { SecretService } from '../secrets/secret.service.js';
import { SecretError } from '../secrets/secret-errors.js';
import { AppError } from './app-errors.js';
import type { AppService } from './app.service.js';

function operational(devices: DeviceService, principal: Principal | undefined): DevicePrincipal {
  if (principal?.type !== 'device') throw new DeviceError('CERT_REQUIRED', 'The device API needs a device certificate.');
  const me = principal as DevicePrincipal;
  devices.assertOperational(me);
  return me;
}

const caller = (me: DevicePrincipal, ctx: RequestContext<unknown, unknown>) => ({ principal: me, requestId: ctx.requestId, sourceIp: ctx.sourceIp });

export interface AppDeviceDeps {
  devices: DeviceService;
  apps: AppService;
  artifacts: ArtifactService;
  cameras: CameraRepository;
  secrets: SecretService;
}

/** The device's side of apps (mTLS): package blobs, camera credentials, status reports. Only its own records. */
export function appDeviceApiRoutes(d: AppDeviceDeps): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/device/v1/packages/blobs/:digest',
      tag: 'device-api',
      summary: 'Download a package file (decrypted, streamed, with Content-Length): only a blob of a package of one of this device\'s instances',
      auth: 'device',
      auditAction: 'package:GetBlob',
      resource: (ctx) => `srn:sightline:${(ctx.principal as DevicePrincipal | undefined)?.project ?? ''}:artifact/${blobArtifactName(ctx.params['digest'] ?? '')}`,
      transactional: false,
      handle: async (ctx) => {
        const me = operational(d.devices, ctx.principal);
        const sha256 = ctx.params['digest'] ?? '';
        // Same answer for a malformed hash, a blob of another device's app and a blob that does not exist.
        if (!/^[0-9a-f]{64}$/.test(sha256) || !(await d.apps.deviceMayFetchBlob(me.deviceId, me.project, sha256))) {
          throw new AppError('BLOB_NOT_FOUND', 'No such package file among the apps deployed on this device.');
        }
        // The route checked the device's right; the KMS unwraps the data key for the control plane.
        const { artifact, stream } = await d.artifacts.open(me.project, blobArtifactName(sha256), {
          principal: { type: 'system', id: me.deviceId, name: `device:${me.name}` },
          requestId: ctx.requestId,
          sourceIp: ctx.sourceIp,
        });
        return new StreamBody(stream, 'application/octet-stream', artifact.size, { 'x-sightline-sha256': artifact.sha256, 'Cache-Control': 'no-store' });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/device/v1/cameras/:cameraId/credentials',
      tag: 'device-api',
      summary: 'Read the credentials of a camera bound to this device (an app deployed on it uses the camera); each read audited, never logged',
      auth: 'device',
      auditAction: 'secret:ReadValue',
      resource: (ctx) => `srn:sightline:${(ctx.principal as DevicePrincipal | undefined)?.project ?? ''}:camera/${(ctx.params['cameraId'] ?? '').slice(0, 64)}`,
      response: appsApi.cameraCredentialsResponse,
      handle: async (ctx) => {
        const me = operational(d.devices, ctx.principal);
        const cameraId = ctx.params['cameraId'] ?? '';
        // Seed point 18: only a camera bound to this device; the binding is checked before anything else is looked up.
        const bound = (await d.cameras.boundDevices(cameraId)).includes(me.deviceId);
        const camera = bound ? (await d.cameras.list(me.project)).find((c) => c.id === cameraId) : undefined;
        if (camera === undefined) {
          throw new SecretError('SECRET_NOT_BOUND_TO_DEVICE', 'No app deployed on this device uses that camera.');
        }
        if (camera.secret_name === null) throw new AppError('CAMERA_NOT_FOUND', `Camera ${camera.name} has no credentials.`);
        const secret = await d.secrets.readForDevice(caller(me, ctx), { project: me.project, name: camera.secret_name });
        const value = secret.value;
        if (typeof value === 'string' || value['username'] === undefined || value['password'] === undefined) {
          throw new AppError('CAMERA_NOT_FOUND', `The credentials of camera ${camera.name} are not a user name and password.`);
        }
        return { username: value['username'], password: value['password'] };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/device/v1/apps/:instanceId/status',
      tag: 'device-api',
      summary: 'Report progress on one of this device\'s app instances (a report for an old revision is ignored)',
      auth: 'device',
      auditAction: 'app:ReportStatus',
      body: appsApi.appStatusReport,
      maxBodyBytes: 128 * 1024,
      response: z.undefined(),
      status: 204,
      handle: async (ctx) => {
        const me = operational(d.devices, ctx.principal);
        await d.apps.report(me.deviceId, ctx.params['instanceId'] ?? '', ctx.body);
        return new Reply(204, undefined);
      },
    }),
  ];
}

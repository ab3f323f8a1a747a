import { previewApi } from '@sightline/protocol';
import { DeviceError } from '../devices/device-errors.js';
import type { DevicePrincipal } from '../devices/device.service.js';
import { defineRoute, StreamBody, type Principal, type Route } from '../http/router.js';
import type { PreviewService } from './preview.service.js';

type Params = { params: Readonly<Record<string, string>> };
const param = (ctx: Params, k: string): string => ctx.params[k] ?? '';

function device(principal: Principal | undefined): DevicePrincipal {
  if (principal?.type !== 'device') throw new DeviceError('CERT_REQUIRED', 'The device API needs a device certificate.');
  const p = principal as DevicePrincipal;
  if (p.certKind !== 'operational') throw new DeviceError('CERT_WRONG_KIND', 'The provisioning certificate may only register the device.');
  return p;
}

/** The viewer's side (a session cookie or a bearer token with device:ViewOutput). */
export function previewRoutes(previews: PreviewService): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/projects/:project/devices/:name/apps/:instance/outputs/:output/preview',
      tag: 'devices',
      summary:
        "Preview an app output live (issue 8): multipart/x-mixed-replace JPEG frames relayed from the device until the viewer disconnects. Needs device:ViewOutput and the project's outputPreview setting; audited at start and stop",
      auth: 'authenticated',
      action: 'device:ViewOutput',
      resource: (ctx) => `srn:sightline:${param(ctx, 'project')}:device/${param(ctx, 'name')}`,
      query: previewApi.previewQuery,
      produces: `multipart/x-mixed-replace; boundary=${previewApi.PREVIEW_BOUNDARY}`,
      handle: async (ctx) => {
        if (ctx.principal === undefined) throw new DeviceError('WRONG_API', 'Sign in first.');
        const opened = await previews.open(
          { principal: ctx.principal, requestId: ctx.requestId, sourceIp: ctx.sourceIp, userAgent: ctx.userAgent },
          {
            project: param(ctx, 'project'),
            device: param(ctx, 'name'),
            instanceId: param(ctx, 'instance'),
            output: param(ctx, 'output'),
            fps: ctx.query.fps,
          },
          ctx.signal,
        );
        return new StreamBody(opened.stream, opened.contentType, undefined, {
          'Cache-Control': 'no-store',
          'X-Sightline-Preview': opened.id,
        });
      },
    }),
  ];
}

/** The device's side (mTLS): push the frames of a preview its desired state names. */
export function previewDeviceRoutes(previews: PreviewService): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/device/v1/previews/:id/stream',
      tag: 'device-api',
      summary: 'Push the frames of a requested output preview: 4-byte big-endian length + JPEG, repeated; answered when the preview ends',
      auth: 'device',
      auditAction: 'device:PushPreview',
      // A push lasts as long as the preview: no transaction may stay open that long.
      transactional: false,
      rawBody: { contentType: previewApi.PREVIEW_FRAMES_CONTENT_TYPE, maxBytes: Number.MAX_SAFE_INTEGER },
      response: previewApi.pushResult,
      handle: (ctx) => {
        const me = device(ctx.principal);
        if (ctx.raw === undefined) throw new DeviceError('WRONG_API', 'A push needs a body.');
        // The answer tells the agent to stop writing (no Connection header: HTTP/2 forbids it).
        return previews.push(me, param(ctx, 'id'), ctx.raw);
      },
    }),
  ];
}

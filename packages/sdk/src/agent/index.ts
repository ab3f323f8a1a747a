/**
 * The agent's side of the app channel: what `@sightline/agent`'s app
 * supervisor uses to launch an app process and serve it. App authors do not
 * need this module.
 *
 * @example
 * ```ts
 * import { AppEndpoint, FrameSlot, appLaunchSpec } from '@sightline/sdk/agent';
 * ```
 */
export { AppEndpoint, type AppHost, type AppProcess, type EndpointStats, type EndpointTransport } from './endpoint.js';
export { FrameRing, DEFAULT_RING_SLOT_BYTES, type FrameRingOptions } from './frame-ring.js';
export { FrameSlot } from './frame-slot.js';
export { lendFrame, returnFrame, isLent } from './frame-lease.js';
export { startLocalApp, type LocalApp, type LocalAppOptions, type LocalModel } from './local-app.js';
export { appLaunchSpec, permissionFlag, RING_FD, MODEL_FD_BASE, type AppLaunchOptions, type LaunchSpec } from './launch.js';
export {
  appMessageSchema,
  wireFrameSchema,
  LIMITS,
  PROTOCOL_VERSION,
  type AppMessage,
  type AppRequest,
  type AppNotice,
  type AgentMessage,
  type InitInfo,
  type ModelSpec,
} from '../channel/messages.js';

/**
 * Camera ingest: video from IP cameras (RTSP/RTSPS spoken by the agent
 * itself) or local clips, decoded by one ffmpeg per camera into frames of the
 * size an app asked for. Camera credentials stay in this process.
 */
export { CameraError, isPermanentCameraError, type CameraErrorCode } from './errors.js';
export { CameraCredentials } from './credentials.js';
export { PLAIN_RTSP_WARNING, resolveSource, type CameraSource, type ResolvedSource } from './source.js';
export {
  CameraIngest,
  FrameSubscription,
  type CameraIngestDeps,
  type CameraIngestOptions,
  type CameraState,
  type CameraStatus,
  type Frame,
  type NextOptions,
} from './ingest.js';
export {
  FfmpegDecoder,
  ffmpegArgs,
  findFfmpeg,
  systemSpawner,
  type DecoderInput,
  type DecoderOptions,
  type DecoderProcess,
  type Spawner,
} from './decoder.js';
export { openRtspH264, RtspConnection, type RtspClientOptions, type RtspH264Stream, type RtspStats } from './rtsp/client.js';
export { DEFAULT_RTSP_LIMITS, type RtspLimits } from './rtsp/limits.js';
export {
  startCameraSimulator,
  startGstreamerSimulator,
  chooseSimulatorEngine,
  gstreamerAvailable,
  probeGstreamer,
  SIMULATOR_PACKAGES,
  type CameraSimulator,
  type SimulatorEngine,
  type SimulatorOptions,
} from './simulator/simulator.js';
export {
  startBuiltinCameraServer,
  DEFAULT_BUILTIN_SERVER_LIMITS,
  type BuiltinCameraServer,
  type BuiltinServerLimits,
  type BuiltinServerStats,
  type BuiltinSimulatorOptions,
} from './simulator/builtin-server.js';

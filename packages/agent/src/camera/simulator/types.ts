/** Which RTSP server serves the clip: GStreamer's (Debian packages) or the one built into the agent (Node + ffmpeg only). */
export type SimulatorEngine = 'gstreamer' | 'builtin';

export interface SimulatorOptions {
  /** An MP4 with an H.264 track (baseline or main; no B-frames keeps latency low). */
  readonly file: string;
  /** Default 0: any free port (the URL says which). */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default `/stream`. */
  readonly path?: string;
  /** Serve RTSPS with this certificate and key (PEM). */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  /** Require these credentials (Digest by default, as cameras do). */
  readonly credentials?: { readonly username: string; readonly password: string; readonly method?: 'digest' | 'basic' };
  /**
   * `auto` (default): GStreamer's RTSP server where `gstreamerAvailable()`,
   * else the built-in one, which needs only Node and an ffmpeg (`findFfmpeg()`,
   * the npm static build included).
   */
  readonly engine?: 'auto' | SimulatorEngine;
  /** GStreamer engine: the Python with `gi`. */
  readonly python?: string;
  /** Built-in engine: the ffmpeg that reads the clip (default `findFfmpeg()`). */
  readonly ffmpegPath?: string;
  /** Milliseconds to wait for the server to listen. Default 15 s. */
  readonly startTimeoutMs?: number;
}

export interface CameraSimulator {
  /** rtsp://host:port/path or rtsps://...; never carries the credentials. */
  readonly url: string;
  /** The process serving: GStreamer's driver, or this process for the built-in server. */
  readonly pid: number;
  readonly engine: SimulatorEngine;
  /** Settles when the server ends. */
  readonly exited: Promise<void>;
  /** Stops the server (GStreamer: SIGTERM, then SIGKILL after 2 s). */
  stop(): Promise<void>;
}

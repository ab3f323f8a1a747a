import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CameraError } from '../errors.js';
import { startBuiltinCameraServer } from './builtin-server.js';
import type { CameraSimulator, SimulatorEngine, SimulatorOptions } from './types.js';

export type { CameraSimulator, SimulatorEngine, SimulatorOptions } from './types.js';

/** The driver script, beside this file. */
export const SIMULATOR_SCRIPT = fileURLToPath(new URL('./rtsp_server.py', import.meta.url));

/** Debian's interpreter with `gi`; a python3 earlier on PATH (a venv, a toolchain) often lacks it. */
export const DEFAULT_PYTHON = '/usr/bin/python3';

/** Debian packages the simulator needs (also the CI list). */
export const SIMULATOR_PACKAGES = [
  'python3-gi',
  'gir1.2-gst-rtsp-server-1.0',
  'gstreamer1.0-plugins-base',
  // qtdemux, rtph264pay
  'gstreamer1.0-plugins-good',
  // h264parse
  'gstreamer1.0-plugins-bad',
  // GIO's TLS backend, for RTSPS
  'glib-networking',
] as const;

const GST_PROBE =
  "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0'); from gi.repository import Gio, Gst, GstRtspServer; Gst.init(None); assert Gst.ElementFactory.find('rtph264pay') and Gst.ElementFactory.find('qtdemux') and Gst.ElementFactory.find('h264parse') and Gio.TlsBackend.get_default().supports_tls()";

function gstMissing(): { ok: false; reason: string } {
  return { ok: false, reason: `GStreamer RTSP server not usable (install: apt-get install ${SIMULATOR_PACKAGES.join(' ')})` };
}

/** Whether GStreamer's RTSP server can run here; `reason` says what to install when not. Blocks up to 15 s: for CLIs and tests. */
export function gstreamerAvailable(python = DEFAULT_PYTHON): { ok: true } | { ok: false; reason: string } {
  if (!existsSync(python)) return { ok: false, reason: `${python} not found (install python3-gi and use Debian's python3)` };
  const probe = spawnSync(python, ['-c', GST_PROBE], { encoding: 'utf8', timeout: 15_000 });
  return probe.status === 0 ? { ok: true } : gstMissing();
}

/** `gstreamerAvailable` without blocking the event loop. */
export function probeGstreamer(python = DEFAULT_PYTHON): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (!existsSync(python))
    return Promise.resolve({ ok: false, reason: `${python} not found (install python3-gi and use Debian's python3)` });
  return new Promise((resolve) => {
    execFile(python, ['-c', GST_PROBE], { timeout: 15_000, maxBuffer: 64 * 1024 }, (err) =>
      resolve(err === null ? { ok: true } : gstMissing()),
    );
  });
}

/** The engine `auto` picks: GStreamer where it runs, else the built-in server. */
export async function chooseSimulatorEngine(options: Pick<SimulatorOptions, 'engine' | 'python'> = {}): Promise<SimulatorEngine> {
  const engine = options.engine ?? 'auto';
  if (engine !== 'auto') return engine;
  return (await probeGstreamer(options.python ?? DEFAULT_PYTHON)).ok ? 'gstreamer' : 'builtin';
}

/**
 * Starts a camera simulator serving `file` as a camera would, with the
 * engine `options.engine` names: GStreamer's RTSP server (Debian packages,
 * `SIMULATOR_PACKAGES`), or the built-in RTSP/RTSPS server (Node and an
 * ffmpeg only: an install from npm alone). `auto`, the default, prefers
 * GStreamer where it runs.
 *
 * @example
 * const sim = await startCameraSimulator({ file: 'packages/agent/test/fixtures/video/pan-messi.mp4', port: 8554 });
 * console.log(sim.engine, sim.url); // builtin rtsp://127.0.0.1:8554/stream
 * await sim.stop();
 */
export async function startCameraSimulator(options: SimulatorOptions): Promise<CameraSimulator> {
  const engine = await chooseSimulatorEngine(options);
  return engine === 'builtin' ? startBuiltinCameraServer(options) : startGstreamerSimulator(options);
}

/**
 * GStreamer's RTSP server looping `file`, as a camera would serve it. The
 * configuration (credentials, TLS key) goes to the Python driver on stdin,
 * not on its command line.
 */
export async function startGstreamerSimulator(options: SimulatorOptions): Promise<CameraSimulator> {
  const file = resolvePath(options.file);
  if (!existsSync(file)) throw new CameraError('CAMERA_SOURCE_INVALID', `The clip ${options.file} does not exist.`);
  const python = options.python ?? DEFAULT_PYTHON;
  const child = spawn(python, [SIMULATOR_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  child.stdin.on('error', () => undefined);
  const config = {
    file,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    path: options.path ?? '/stream',
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.credentials === undefined ? {} : { credentials: { method: 'digest', ...options.credentials } }),
  };
  // The stdin pipe stays open: the server exits when it closes (when this process dies).
  child.stdin.write(`${JSON.stringify(config)}\n`);

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };

  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let settled = false;
    const timer = setTimeout(
      () => fail(`did not start within ${(options.startTimeoutMs ?? 15_000) / 1000} s`),
      options.startTimeoutMs ?? 15_000,
    );
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      void stop();
      reject(
        new CameraError(
          'CAMERA_UNREACHABLE',
          `The camera simulator ${why}.${stderr === '' ? '' : ` ${stderr.trim().split('\n').slice(-3).join(' | ')}`}`,
        ),
      );
    };
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('READY ') || l.startsWith('ERROR '));
      if (line === undefined) return;
      if (line.startsWith('ERROR ')) return fail(`failed: ${line.slice(6)}`);
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.resume();
      resolve(line.slice(6).trim());
    };
    child.stdout.on('data', onData);
    child.once('error', (err) => fail(`could not start ${python} (${err.message})`));
    void exited.then(() => fail('exited'));
  });
  return { url, pid: child.pid ?? -1, engine: 'gstreamer', exited, stop };
}

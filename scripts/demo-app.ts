/**
 * The application half of the demo (issue 6), as an operator does it with
 * the CLI: a camera simulator serving the committed clip over RTSP, the
 * camera registered, privacy-blur and its BlazeFace model built, signed and
 * pushed, and the app deployed to the demo appliance, followed to `running`.
 * `npm run demo` calls it; the end-to-end test of issue 6 calls it too, so
 * the demo's flow is what the test proves.
 *
 * Every CLI call is a child process run asynchronously: the control plane may
 * run in the calling process, and a blocking call would stall it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCameraSimulator, type CameraSimulator } from '../packages/agent/src/camera/index.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'packages/cli/src/main.ts');
export const DEMO_CLIP = join(ROOT, 'packages/agent/test/fixtures/video/pan-messi.mp4');
export const DEMO_MANIFEST = join(ROOT, 'examples/privacy-blur/app-manifest.json');

export interface DemoAppOptions {
  /** Where the demo keeps its own files (signing key, built packages, overrides). */
  readonly workDir: string;
  /** SIGHTLINE_URL, SIGHTLINE_CA and SIGHTLINE_TOKEN (an admin API key) for the CLI. */
  readonly cliEnv: Readonly<Record<string, string>>;
  readonly device: string;
  readonly camera?: string;
  /** Deploy-time parameter overrides (e.g. `{ threshold: 0.6 }`). */
  readonly parameters?: Readonly<Record<string, number | string | boolean>>;
  /** RTSP port of the camera simulator (0: any free one). */
  readonly cameraPort?: number;
  readonly log?: (line: string) => void;
}

export interface DemoApp {
  readonly camera: CameraSimulator;
  readonly instanceId: string;
  /** Stops the camera simulator (the app keeps its deployment). */
  stop(): Promise<void>;
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `sightline ARGS` with `env`; resolves with what it printed (never throws for a non-zero exit). */
export function runSightline(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  onStderr?: (chunk: string) => void,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(d.toString());
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function must(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  what: string,
  okCodes: readonly number[] = [0],
): Promise<CliRun> {
  const r = await runSightline(args, env);
  if (r.code === null || !okCodes.includes(r.code)) {
    throw new Error(
      `The demo could not ${what} (sightline ${args.join(' ')} exited ${String(r.code)}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return r;
}

/** Builds, signs and pushes a package folder; an already published version is fine (exit 6). */
async function publish(dir: string, out: string, key: string, env: Readonly<Record<string, string>>): Promise<void> {
  await must(['package', 'build', dir, '--out', out, '--force', '--sign-with', key], env, `build ${dir}`);
  await must(['package', 'push', out, '--progress', 'none'], env, `push ${out}`, [0, 6]);
}

/**
 * Sets the demo application up and deploys it; resolves once the instance
 * runs (or throws with the stage and reason it failed at).
 */
export async function deployDemoApp(o: DemoAppOptions): Promise<DemoApp> {
  const log = o.log ?? (() => undefined);
  const cameraName = o.camera ?? 'demo-camera';
  mkdirSync(o.workDir, { recursive: true, mode: 0o700 });
  const env = {
    ...o.cliEnv,
    SIGHTLINE_CONFIG_DIR: join(o.workDir, 'cli'),
    SIGHTLINE_SIGNING_KEY_PASSPHRASE: o.cliEnv['SIGHTLINE_SIGNING_KEY_PASSPHRASE'] ?? 'demo-signing-key-passphrase',
  };

  const camera = await startCameraSimulator({ file: DEMO_CLIP, port: o.cameraPort ?? 0 });
  try {
    log(`Camera simulator: ${camera.url} (${camera.engine === 'builtin' ? 'built-in RTSP server' : 'GStreamer RTSP server'} looping ${DEMO_CLIP.slice(ROOT.length)})`);
    // The simulator's port may differ from the last run: update the camera, or create it.
    const updated = await runSightline(['camera', 'update', cameraName, '--url', camera.url], env);
    if (updated.code !== 0)
      await must(['camera', 'create', cameraName, '--url', camera.url, '--description', 'demo clip'], env, 'create the camera');

    const keyFile = join(o.workDir, 'demo-signing.key');
    if (!existsSync(keyFile)) {
      await must(['signing-key', 'create', `demo-${Date.now().toString(36)}`, '--out', keyFile], env, 'create a signing key');
    }
    log('Building, signing and pushing privacy-blur and its BlazeFace model…');
    await publish(join(ROOT, 'examples/privacy-blur/model'), join(o.workDir, 'pkg-model'), keyFile, env);
    await publish(join(ROOT, 'examples/privacy-blur'), join(o.workDir, 'pkg-app'), keyFile, env);

    const overrides = join(o.workDir, 'overrides.json');
    writeFileSync(overrides, JSON.stringify({ cameras: { camera: cameraName }, parameters: o.parameters ?? {} }));
    const existing = await must(['app', 'ls', '--device', o.device, '--json'], env, 'list the apps');
    const { apps } = JSON.parse(existing.stdout) as { apps: { instanceId: string; app: string; stage: string }[] };
    const previous = apps.find((a) => a.app === 'privacy-blur' && !['failed', 'rolled-back', 'stopped'].includes(a.stage));
    log(`Deploying privacy-blur to ${o.device}${previous === undefined ? '' : ` (replacing ${previous.instanceId})`}…`);
    const deploy = await runSightline(
      [
        'app',
        'deploy',
        DEMO_MANIFEST,
        '--device',
        o.device,
        '--override',
        overrides,
        '--progress',
        'plain',
        ...(previous === undefined ? [] : ['--replace', previous.instanceId]),
      ],
      env,
      (chunk) =>
        chunk
          .split('\n')
          .filter((l) => l.trim() !== '')
          .forEach((l) => log(`  ${l}`)),
    );
    for (const l of deploy.stdout.split('\n').filter((x) => x.trim() !== '')) log(`  ${l}`);
    if (deploy.code !== 0) throw new Error(`The demo app did not start: ${deploy.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    const instanceId = /instance (\S+), revision/.exec(deploy.stdout)?.[1];
    if (instanceId === undefined) throw new Error(`The deploy output names no instance: ${deploy.stdout}`);
    return { camera, instanceId, stop: () => camera.stop() };
  } catch (err) {
    await camera.stop();
    throw err;
  }
}

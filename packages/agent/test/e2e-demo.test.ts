import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestServer } from '../../server/test/harness.js';
import { deployDemoApp, runSightline } from '../../../scripts/demo-app.js';
import { gstreamerAvailable } from '../src/camera/index.js';
import { AGENT_MAIN, runAgentCli as run } from './helpers/launcher-process.js';
import { until } from './helpers/wait.js';

/**
 * Issue 6's done-when, the demo's own flow (scripts/demo-app.ts) against a
 * real control plane and a real agent process: Debian's GStreamer RTSP server
 * plays the clip as a camera, privacy-blur and BlazeFace are built, signed,
 * pushed and deployed with the CLI, the agent runs them in its sandbox, and
 * the blurred output is read back over the appliance's HTTPS with ffprobe
 * and ffmpeg. Faces in the clip must be detected (the app's own metric, as
 * the control plane shows it); that detected faces are blurred on real pixels
 * is proven in examples/privacy-blur/test.
 */

const gst = gstreamerAvailable();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface AppBody {
  app: { stage: string; nodes: { node: string; metrics?: Record<string, number> }[]; cameras: { camera: string; state?: string; fps?: number }[] };
}

test('the demo flow: RTSP camera → privacy-blur on a real agent → blurred MJPEG read back with ffprobe; faces detected', { skip: gst.ok ? false : gst.reason, timeout: 300_000 }, async () => {
  const s = await startTestServer();
  const work = mkdtempSync(join(tmpdir(), 'sightline-e2e-demo-'));
  // As /var/lib is for an installed agent: the apps' own uids pass through to their folders (0711, no listing).
  chmodSync(work, 0o711);
  let agent: ChildProcess | undefined;
  let stopCamera: (() => Promise<void>) | undefined;
  try {
    const admin = await s.adminToken();
    const cliEnv = { SIGHTLINE_URL: s.url.replace('localhost', '127.0.0.1'), SIGHTLINE_CA: join(s.dataDir, 'ca.pem'), SIGHTLINE_TOKEN: admin, SIGHTLINE_CONFIG_DIR: join(work, 'cli') };

    const archive = join(work, 'edge.age');
    const prov = await runSightline(['device', 'provision', 'edge-demo', '--out', archive, '--json'], cliEnv);
    assert.equal(prov.code, 0, prov.stderr);
    writeFileSync(join(work, 'pass'), `${(JSON.parse(prov.stdout) as { passphrase: string }).passphrase}\n`, { mode: 0o600 });
    const dataDir = join(work, 'agent');
    const reg = await run(['register', '--archive', archive, '--data-dir', dataDir, '--passphrase-file', join(work, 'pass'), '--root-key', 'key-file'], {});
    assert.equal(reg.code, 0, reg.stderr + reg.stdout);

    const outputPort = await freePort();
    const agentEnv = { SIGHTLINE_AGENT_HEARTBEAT_SECONDS: '2', SIGHTLINE_AGENT_POLL_WAIT_SECONDS: '2', SIGHTLINE_AGENT_OUTPUT_PORT: String(outputPort) };
    agent = spawn(process.execPath, ['--import', 'tsx', AGENT_MAIN, 'start', '--data-dir', dataDir], { env: { ...process.env, ...agentEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let agentOut = '';
    agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (agentOut += d.toString()));

    const app = await deployDemoApp({ workDir: join(work, 'demo'), cliEnv, device: 'edge-demo', parameters: { threshold: 0.6 } }).catch((err: unknown) => {
      throw new Error(`${String(err)}\nagent output:\n${agentOut.slice(-4000)}`);
    });
    stopCamera = () => app.stop();

    // The output stream, as a viewer reads it: the token from `sightline-agent status`, the certificate pinned by its hash.
    const status = await run(['status', '--data-dir', dataDir, '--json'], agentEnv);
    const local = (JSON.parse(status.stdout) as { localOutput: { port: number; token: string; certSha256: string } }).localOutput;
    assert.equal(local.port, outputPort);
    const url = `https://127.0.0.1:${outputPort}/apps/${app.instanceId}/outputs/out.mjpeg`;
    const headers = `Authorization: Bearer ${local.token}\r\n`;
    const probe = await promisify(execFile)('ffprobe', ['-v', 'error', '-headers', headers, '-tls_verify', '0', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', url], {
      timeout: 60_000,
    });
    assert.equal(probe.stdout.trim(), 'mjpeg,640,480');
    // Without the token: refused.
    const denied = await promisify(execFile)('ffprobe', ['-v', 'error', '-tls_verify', '0', url], { timeout: 30_000 }).then(
      () => 'read',
      (err: { stderr?: string }) => err.stderr ?? 'refused',
    );
    assert.match(denied, /401|Unauthorized/);

    // Frames arrive: 24 of them, two seconds of the 12 fps camera.
    const frames = join(work, 'frames');
    await promisify(execFile)('mkdir', ['-p', frames]);
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-headers', headers, '-tls_verify', '0', '-i', url, '-frames:v', '24', join(frames, 'f%02d.png')], { timeout: 90_000 });
    assert.ok(readFileSync(join(frames, 'f24.png')).length > 1000, 'the 24th frame arrived');

    // Faces detected: the app counts them, and the control plane shows the node's metrics and the camera's fps.
    const seen = await until('faces in the app metrics', async () => {
      const r = await s.call<AppBody>('GET', `/api/v1/projects/default/apps/${app.instanceId}`, undefined, admin);
      const faces = r.body.app.nodes.find((n) => n.node === 'blur')?.metrics?.['faces'] ?? 0;
      return r.body.app.stage === 'running' && faces > 0 ? r.body.app : undefined;
    });
    assert.ok((seen.nodes.find((n) => n.node === 'blur')?.metrics?.['frames'] ?? 0) > 0);
    assert.equal(seen.cameras[0]?.camera, 'demo-camera');

    // `sightline device describe` names each isolation layer as present or absent on this appliance.
    const described = await runSightline(['device', 'describe', 'edge-demo'], cliEnv);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /App isolation on this appliance:/);
    assert.match(described.stdout, /Node permission model: +present/);
    assert.match(described.stdout, /cgroup quotas: +(present|ABSENT) +(v1|v2|none): /);

    // No camera URL, credential or token in the app's logs, and the app log group exists for the instance.
    const logs = await until('the app log group', async () => {
      const r = await s.call<{ events: { message: string }[] }>('GET', `/api/v1/projects/default/log-groups/app-${app.instanceId}/events`, undefined, admin);
      return r.status === 200 && r.body.events.length > 0 ? r.body.events : undefined;
    });
    assert.ok(!JSON.stringify(logs).includes(local.token));
    assert.ok(!JSON.stringify(logs).includes('rtsp://'));
  } finally {
    agent?.kill('SIGTERM');
    await stopCamera?.();
    await new Promise((r) => setTimeout(r, 1000));
    agent?.kill('SIGKILL');
    await s.close();
    rmSync(work, { recursive: true, force: true });
  }
});

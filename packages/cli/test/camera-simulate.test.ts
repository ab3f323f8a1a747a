import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gstreamerAvailable } from '@sightline/agent';
import { ROOT, runCli, spawnCli } from './cli-process.js';

/** `sightline camera simulate`: a clip served as an RTSP camera, read back with ffprobe. */

const CLIP = join(ROOT, 'packages/agent/test/fixtures/video/pan-messi.mp4');
const gst = gstreamerAvailable();

test('camera simulate serves the clip over RTSP until SIGINT', { skip: gst.ok ? false : gst.reason }, async () => {
  const sim = spawnCli(['camera', 'simulate', CLIP, '--json'], {});
  await sim.waitFor(/"url"/);
  const { url } = JSON.parse(sim.output().stdout) as { url: string };
  assert.match(url, /^rtsp:\/\/127\.0\.0\.1:\d+\/stream$/);
  const probe = await promisify(execFile)(
    'ffprobe',
    ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', url],
    { timeout: 20_000 },
  );
  assert.equal(probe.stdout.trim(), 'h264,640,480');
  sim.child.kill('SIGINT');
  const r = await sim.done;
  assert.equal(r.code, 0, r.stderr);
});

test('camera simulate refuses half a TLS pair and a missing clip', async () => {
  const half = await runCli(['camera', 'simulate', CLIP, '--tls-cert', CLIP], {});
  assert.equal(half.code, 2);
  assert.match(half.stderr, /error INPUT_INVALID: Give --tls-cert and --tls-key together/);
  if (!gst.ok) return;
  const missing = await runCli(['camera', 'simulate', join(ROOT, 'no-such-clip.mp4')], {});
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /CAMERA_SOURCE_INVALID: The clip .* does not exist/);
});

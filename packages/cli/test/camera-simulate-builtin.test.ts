import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findFfmpeg } from '@sightline/agent';
import { ROOT, runCli, spawnCli } from './cli-process.js';

/** `sightline camera simulate --engine builtin`: the RTSP server built into the agent (Node + ffmpeg), read back with ffprobe. */

const CLIP = join(ROOT, 'packages/agent/test/fixtures/video/pan-messi.mp4');
const skip = findFfmpeg() === undefined ? 'no ffmpeg' : false;

test('camera simulate --engine builtin serves the clip over RTSP until SIGINT', { skip }, async () => {
  const sim = spawnCli(['camera', 'simulate', CLIP, '--engine', 'builtin', '--json'], {});
  await sim.waitFor(/"url"/);
  const out = JSON.parse(sim.output().stdout) as { url: string; engine: string; pid: number };
  assert.match(out.url, /^rtsp:\/\/127\.0\.0\.1:\d+\/stream$/);
  assert.equal(out.engine, 'builtin');
  assert.equal(out.pid, sim.child.pid, 'the built-in server runs in the CLI process');
  const probe = await promisify(execFile)(
    'ffprobe',
    ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', out.url],
    { timeout: 20_000 },
  );
  assert.equal(probe.stdout.trim(), 'h264,640,480');
  sim.child.kill('SIGINT');
  const r = await sim.done;
  assert.equal(r.code, 0, r.stderr);
});

test('camera simulate refuses an unknown engine', async () => {
  const r = await runCli(['camera', 'simulate', CLIP, '--engine', 'vlc'], {});
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--engine <ENGINE>' argument 'vlc' is invalid. Allowed choices are auto, gstreamer, builtin/);
});

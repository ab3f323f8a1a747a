import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sealArchive } from './helpers/archive.js';
import { FakeControlPlane, waitFor } from './helpers/fake-control-plane.js';

/**
 * The real `sightline-agent` binary (bin shim → tsx → src/cli/main.ts) as
 * separate processes against a control plane over mTLS: what needs a process
 * (signals, exit codes, the lock between processes). The rest of the CLI is
 * tested in-process in src/cli/program.test.ts.
 */

const BIN = fileURLToPath(new URL('../bin/sightline-agent.js', import.meta.url));
const PASS = 'violet-harbor-cinder-42';
const tmp = mkdtempSync(join(tmpdir(), 'sl-agent-cli-'));
// The command under test must not see the developer's SIGHTLINE_* settings or a TPM.
const baseEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGHTLINE_') && k !== 'TPM2TOOLS_TCTI')),
  SIGHTLINE_AGENT_HEARTBEAT_SECONDS: '1',
  SIGHTLINE_AGENT_POLL_WAIT_SECONDS: '2',
  SIGHTLINE_AGENT_BACKOFF_BASE_MS: '50',
  SIGHTLINE_AGENT_BACKOFF_MAX_MS: '200',
};
let cp: FakeControlPlane;
const children: ChildProcess[] = [];

before(async () => {
  cp = await FakeControlPlane.start();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await cp.close();
  rmSync(tmp, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnAgent(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; result: Promise<Result>; stdout: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, result, stdout: () => stdout };
}

const beats = (device: string): number => cp.heartbeats.filter((h) => h.device === device).length;

test('register, start, SIGTERM (0), start again, deregistered (3, and stays refused), reset --full: as separate processes', async () => {
  const file = join(tmp, 'cli-01.age');
  writeFileSync(file, await sealArchive(await cp.provision('cli-01'), PASS));
  const dataDir = join(tmp, 'cli-01');
  const reg = await spawnAgent(['register', '--archive', file, '--data-dir', dataDir, '--root-key', 'key-file'], {
    SIGHTLINE_ARCHIVE_PASSPHRASE: PASS,
  }).result;
  assert.equal(reg.code, 0, reg.stderr);
  assert.match(reg.stdout, /Registered device cli-01/);
  assert.match(reg.stdout, /WARNING: no TPM 2\.0 found/);
  assert.match(reg.stdout, /was deleted/);
  assert.equal(existsSync(file), false);

  const first = spawnAgent(['start', '--data-dir', dataDir]);
  await waitFor(() => beats('cli-01') >= 1, 30_000, 'heartbeat from the agent process');
  const busy = await spawnAgent(['reset', '--full', '--data-dir', dataDir]).result;
  assert.equal(busy.code, 4, 'no reset under a running agent');
  assert.match(busy.stderr, /AGENT_RUNNING/);
  first.child.kill('SIGTERM');
  const stopped = await first.result;
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /"msg":"agent started/);
  assert.match(stopped.stdout, /WARNING: no TPM/);
  assert.equal(existsSync(join(dataDir, 'agent.lock')), false);

  const second = spawnAgent(['start', '--data-dir', dataDir]);
  const seen = beats('cli-01');
  await waitFor(() => beats('cli-01') > seen, 30_000, 'heartbeat after restart');
  cp.revoke('cli-01');
  const refused = await second.result;
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, /DEVICE_REFUSED.*CERT_REVOKED/);
  const again = await spawnAgent(['start', '--data-dir', dataDir]).result;
  assert.equal(again.code, 3);
  assert.match(again.stderr, /reset --full/);

  const reset = await spawnAgent(['reset', '--full', '--data-dir', dataDir]).result;
  assert.equal(reset.code, 0, reset.stderr);
  assert.deepEqual(readdirSync(dataDir), []);
});

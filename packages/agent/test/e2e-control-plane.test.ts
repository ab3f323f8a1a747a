import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer } from '../../server/test/harness.js';
import { until } from './helpers/wait.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const agentBin = join(root, 'packages/agent/src/cli/main.ts');
const cliBin = join(root, 'packages/cli/src/main.ts');

function run(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('end to end: provision, register the agent as its own process, online in `sightline device list`, its logs in `sightline logs tail`, deregister refuses the next request', { timeout: 180_000 }, async () => {
  const s = await startTestServer();
  const work = mkdtempSync(join(tmpdir(), 'sightline-e2e-'));
  let agent: ChildProcess | undefined;
  try {
    const admin = await s.adminToken();
    const cliEnv = { SIGHTLINE_URL: s.url.replace('localhost', '127.0.0.1'), SIGHTLINE_CA: join(s.dataDir, 'ca.pem'), SIGHTLINE_TOKEN: admin, SIGHTLINE_CONFIG_DIR: join(work, 'cli') };

    // Provision through the CLI: the archive file and the passphrase printed once.
    const archive = join(work, 'lobby.sightline-archive.age');
    const prov = await run(cliBin, ['device', 'provision', 'lobby-box', '--out', archive, '--json'], cliEnv);
    assert.equal(prov.code, 0, prov.stderr);
    const { passphrase } = JSON.parse(prov.stdout) as { passphrase: string };
    writeFileSync(join(work, 'passphrase'), `${passphrase}\n`, { mode: 0o600 });

    // Register: the device makes its key, trades the provisioning certificate, deletes the archive.
    const dataDir = join(work, 'agent');
    const reg = await run(agentBin, ['register', '--archive', archive, '--data-dir', dataDir, '--passphrase-file', join(work, 'passphrase'), '--root-key', 'key-file'], {});
    assert.equal(reg.code, 0, reg.stderr + reg.stdout);
    assert.equal(existsSync(archive), false, 'the agent deleted the archive after registering');
    const again = await run(agentBin, ['register', '--archive', archive, '--data-dir', join(work, 'agent2'), '--passphrase-file', join(work, 'passphrase')], {});
    assert.notEqual(again.code, 0);

    // Start the agent as its own process, with short intervals for the test.
    agent = spawn(process.execPath, ['--import', 'tsx', agentBin, 'start', '--data-dir', dataDir], {
      env: { ...process.env, SIGHTLINE_AGENT_HEARTBEAT_SECONDS: '1', SIGHTLINE_AGENT_POLL_WAIT_SECONDS: '2', SIGHTLINE_AGENT_BACKOFF_BASE_MS: '200', SIGHTLINE_AGENT_BACKOFF_MAX_MS: '1000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let agentOut = '';
    agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
    agent.stderr?.on('data', (d: Buffer) => (agentOut += d.toString()));
    const exited = new Promise<number | null>((resolve) => agent!.once('exit', (code) => resolve(code)));

    const listed = await until('the device to show online', async () => {
      const r = await run(cliBin, ['device', 'list', '--json'], cliEnv);
      const devices = (JSON.parse(r.stdout || '{"devices":[]}') as { devices?: { name: string; online: boolean; agentVersion: string | null }[] }).devices ?? (JSON.parse(r.stdout) as { name: string; online: boolean; agentVersion: string | null }[]);
      const d = devices.find((x) => x.name === 'lobby-box');
      return d?.online === true ? d : undefined;
    });
    assert.ok(listed.agentVersion !== null);

    // Its logs reach the control plane's log store (encrypted there, readable through the API).
    // `sightline logs tail --json` prints one JSON object per event.
    const lines = await until('agent logs in `sightline logs tail`', async () => {
      const r = await run(cliBin, ['logs', 'tail', 'device-lobby-box', '--since', '1h', '--json'], cliEnv);
      const events = r.stdout.split('\n').filter((l) => l.startsWith('{'));
      return r.code === 0 && events.length > 0 ? events : undefined;
    });
    assert.ok(lines.some((l) => /agent started|connected to the control plane/.test(l)), lines.join('\n'));

    // Nothing secret in plaintext in the agent's data folder.
    const keyBody = /-----BEGIN PRIVATE KEY-----\n([^-]+)/;
    for (const f of filesUnder(dataDir)) {
      const text = readFileSync(f);
      assert.equal(text.includes(Buffer.from(passphrase)), false, `${f} holds the passphrase`);
      assert.equal(keyBody.test(text.toString('latin1')), false, `${f} holds a private key in PEM`);
    }

    // Deregister: the agent's next request is refused and it stops for good.
    const dereg = await run(cliBin, ['device', 'deregister', 'lobby-box', '--yes'], cliEnv);
    assert.equal(dereg.code, 0, dereg.stderr);
    const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 30_000))]);
    assert.notEqual(code, 'still running', `the agent kept running after deregistration:\n${agentOut}`);
    assert.match(agentOut, /CERT_REVOKED|DEVICE_DEREGISTERED/);
    const events = await s.call<{ events: { event: { action: string; outcome: string; errorCode: string | null } }[] }>('GET', '/api/v1/audit/events?principal=lobby-box&limit=5000', undefined, admin);
    assert.ok(events.body.events.some((e) => e.event.outcome === 'failed' && e.event.errorCode === 'CERT_REVOKED'), 'the refused request is in the audit trail');
  } finally {
    agent?.kill('SIGKILL');
    await s.close();
    rmSync(work, { recursive: true, force: true });
  }
});

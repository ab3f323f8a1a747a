/**
 * `npm run demo`: the control plane on the embedded defaults (SQLite, local
 * files, built-in CA) in ./.sightline-demo, and a local appliance agent
 * provisioned through the real encrypted-archive flow, until Ctrl-C. The
 * first run creates the folder and prints the admin's password and TOTP
 * secret once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initDataDir, loadConfig, startControlPlane } from '@sightline/server';
import { ensureConsoleBuilt } from '../packages/console/scripts/ensure-built.js';
import { findFfmpeg, probeGstreamer } from '../packages/agent/src/camera/index.js';
import { blockingFolder } from '../packages/agent/src/sandbox/ownership.js';
import { DEFAULT_APP_UID_FIRST } from '../packages/agent/src/sandbox/uid-pool.js';
import { deployDemoApp, type DemoApp } from './demo-app.js';

const dataDir = resolve(process.env['SIGHTLINE_DEMO_DIR'] ?? '.sightline-demo');
const port = Number(process.env['SIGHTLINE_DEMO_PORT'] ?? '8443');
// The appliance's local HTTPS page (the app's blurred output as MJPEG), beside the control plane's port.
const outputPort = Number(process.env['SIGHTLINE_DEMO_OUTPUT_PORT'] ?? String(port + 1));

const line = (s = ''): void => {
  process.stdout.write(`${s}\n`);
};

const freshPlane = !existsSync(join(dataDir, 'config.json'));
if (freshPlane) {
  const init = await initDataDir({ dataDir, port });
  line('Sightline demo: created a new control plane in ' + init.dataDir);
  line();
  line('  First admin (shown once, stored only as hashes and sealed values):');
  line(`    user:        ${init.admin.name}`);
  line(`    password:    ${init.admin.password}`);
  line(`    TOTP secret: ${init.admin.totpSecret}`);
  line(`    otpauth URI: ${init.admin.otpauthUri}`);
  line('  Add the secret to an authenticator app (or use: oathtool --totp -b SECRET).');
  line();
} else {
  line(`Sightline demo: reusing ${dataDir} (its admin password and TOTP secret were printed when it was created;`);
  line(`delete the folder to start over).`);
}

const config = loadConfig(dataDir);
// The web console is served by the control plane from packages/console/dist (built once, here if missing).
await ensureConsoleBuilt();
const plane = await startControlPlane(config);
const ca = join(dataDir, 'ca.pem');

// A local appliance: provisioned once through the same archive flow an operator uses
// (encrypted archive + one-time passphrase), then started as its own process.
const agentMain = fileURLToPath(new URL('../packages/agent/src/cli/main.ts', import.meta.url));
// Beside the control plane's folder, not in it: that one is 0700, and the appliance's apps run under their own uids.
const applianceDir = await applianceFolder();
const deviceName0 = 'demo-appliance';
// initDataDir's first administrator.
const adminName = 'admin';
// A new control plane means a new appliance too: an old one is registered with a control plane that is gone.
if (freshPlane || !existsSync(join(applianceDir, 'root-key.json'))) {
  rmSync(applianceDir, { recursive: true, force: true });
  const existing = (await plane.services.devices.list('default')).find((d) => d.name === deviceName0);
  if (existing !== undefined) await plane.services.devices.deregister('default', deviceName0);
  const name = existing === undefined ? deviceName0 : `${deviceName0}-${Date.now().toString(36)}`;
  const prov = await plane.services.devices.provision({ project: 'default', name, network: { mode: 'dhcp' }, ntp: [] });
  mkdirSync(dataDir, { recursive: true });
  const archive = join(dataDir, 'appliance.sightline-archive.age');
  const pass = join(dataDir, 'appliance.passphrase');
  writeFileSync(archive, prov.archive, { mode: 0o600 });
  writeFileSync(pass, `${prov.passphrase}\n`, { mode: 0o600 });
  // Asynchronously: the control plane it registers with runs in this very process.
  const reg = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolveRun) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', agentMain, 'register', '--archive', archive, '--data-dir', applianceDir, '--passphrase-file', pass],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolveRun({ status, stdout, stderr }));
  });
  rmSync(pass, { force: true });
  rmSync(archive, { force: true });
  if (reg.status !== 0) {
    line(`The demo appliance could not register:\n${reg.stdout}${reg.stderr}`);
  } else {
    line(`Appliance ${name}: provisioned with an encrypted one-time archive and registered (its key never left it).`);
  }
}
let agent: ChildProcess | undefined;
if (existsSync(join(applianceDir, 'root-key.json'))) {
  agent = spawn(process.execPath, ['--import', 'tsx', agentMain, 'start', '--data-dir', applianceDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SIGHTLINE_AGENT_OUTPUT_PORT: String(outputPort) },
  });
  const prefix = (chunk: Buffer): void => {
    for (const l of chunk.toString().split('\n')) if (l.trim() !== '') process.stdout.write(`[appliance] ${l}\n`);
  };
  agent.stdout?.on('data', prefix);
  agent.stderr?.on('data', prefix);
}
// The application (issue 6): a simulated RTSP camera looping a clip with a face, and
// privacy-blur built, signed, pushed and deployed to the appliance with the CLI.
let app: DemoApp | undefined;
let outputLines: string[] = [];
// The camera: GStreamer's RTSP server where it runs, else the built-in one (Node and ffmpeg only), as startCameraSimulator picks.
const gst = await probeGstreamer();
if (agent === undefined) {
  line('No appliance is running, so no app is deployed.');
} else if (!gst.ok && findFfmpeg() === undefined) {
  line(
    'No camera simulator: no ffmpeg (install ffmpeg, or let npm install @ffmpeg-installer/ffmpeg). The control plane and appliance run; the app is not deployed.',
  );
} else {
  line(
    gst.ok
      ? 'Camera simulator engine: GStreamer RTSP server.'
      : `Camera simulator engine: built-in RTSP server (Node + ffmpeg; ${gst.reason}).`,
  );
  const admin = await plane.services.userRepo.getByName(adminName);
  const { token } = await plane.services.apiKeys.create(admin.id, { name: `demo-${Date.now().toString(36)}`, expiresInDays: 1 });
  const cliEnv = { SIGHTLINE_URL: plane.url, SIGHTLINE_CA: ca, SIGHTLINE_TOKEN: token };
  const deviceName = (await plane.services.devices.list('default')).find((d) => d.state === 'registered')?.name ?? deviceName0;
  try {
    app = await deployDemoApp({ workDir: join(dataDir, 'demo-app'), cliEnv, device: deviceName, log: (l) => line(l) });
    const status = await runSightlineAgentStatus();
    const out = status?.localOutput;
    if (out !== undefined) {
      outputLines = [
        `Blurred output: https://localhost:${out.port}/apps/${app.instanceId}/outputs/out.mjpeg`,
        `                (self-signed certificate sha256 ${out.certSha256}; send "Authorization: Bearer ${out.token}")`,
        `  e.g. ffplay -headers "Authorization: Bearer ${out.token}" -tls_verify 0 https://localhost:${out.port}/apps/${app.instanceId}/outputs/out.mjpeg`,
      ];
    }
  } catch (err) {
    line(`The demo app was not deployed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function runSightlineAgentStatus(): Promise<{ localOutput?: { port: number; token: string; certSha256: string } } | undefined> {
  const r = await new Promise<{ code: number | null; stdout: string }>((resolveRun) => {
    const child = spawn(process.execPath, ['--import', 'tsx', agentMain, 'status', '--data-dir', applianceDir, '--json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, SIGHTLINE_AGENT_OUTPUT_PORT: String(outputPort) },
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolveRun({ code, stdout }));
  });
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as { localOutput?: { port: number; token: string; certSha256: string } };
}

line();
line(`Control plane: ${plane.url}  (HTTPS only, TLS 1.2+; CA certificate: ${ca})`);
line(`Web console:   ${plane.url}/console/`);
line(`API document:  ${plane.url}/api/v1/openapi.json`);
line();
line('Next, in another terminal:');
line(`  npm run sightline -- login --url ${plane.url} --ca ${ca} --user admin`);
line('  npm run sightline -- whoami');
line('  npm run sightline -- device list            # the local appliance, online');
line('  npm run sightline -- logs tail device-demo-appliance');
line('  npm run sightline -- audit verify --server');
line('  npm run sightline -- user create alice --role Operator@default');
line();
for (const l of outputLines) line(l);
line();
line('Press Ctrl-C to stop.');

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  line('\nStopping…');
  agent?.kill('SIGTERM');
  void app?.stop();
  plane.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

/**
 * The appliance's data folder: SIGHTLINE_DEMO_APPLIANCE_DIR, else beside
 * the control plane's. As root, the agent runs each app under a uid of its
 * own, which must pass through every folder above the app's storage; a
 * clone inside a folder closed to others (/root is 0700) would stop the
 * app at its start. Then the appliance lives under /var/lib/sightline-demo
 * instead, and the demo says so.
 */
async function applianceFolder(): Promise<string> {
  const chosen = process.env['SIGHTLINE_DEMO_APPLIANCE_DIR'];
  const wanted = resolve(chosen ?? `${dataDir}-appliance`);
  if (process.getuid?.() !== 0) return wanted;
  const closed = await blockingFolder(wanted, DEFAULT_APP_UID_FIRST, DEFAULT_APP_UID_FIRST);
  if (closed === undefined) return wanted;
  const mode = closed.mode.toString(8).padStart(4, '0');
  if (chosen !== undefined) {
    line(`Sightline demo: ${closed.folder} (mode ${mode}) is closed to the apps' own users: the app will not start there.`);
    line(`Give it o+x (chmod o+x ${closed.folder}) or choose another SIGHTLINE_DEMO_APPLIANCE_DIR.`);
    return wanted;
  }
  const base = '/var/lib/sightline-demo';
  mkdirSync(base, { recursive: true, mode: 0o711 });
  chmodSync(base, 0o711);
  const moved = join(base, `${createHash('sha256').update(wanted).digest('hex').slice(0, 12)}-appliance`);
  line(`Sightline demo: ${closed.folder} (mode ${mode}) is closed to the apps' own users, so the appliance keeps`);
  line(`its data in ${moved} instead of ${wanted} (SIGHTLINE_DEMO_APPLIANCE_DIR chooses another folder).`);
  return moved;
}

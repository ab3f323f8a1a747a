/**
 * `npm run demo`: the control plane on the embedded defaults (SQLite, local
 * files, built-in CA) in ./.sightline-demo, and a local appliance agent
 * provisioned through the real encrypted-archive flow, until Ctrl-C. The
 * first run creates the folder and prints the admin's password and TOTP
 * secret once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initDataDir, loadConfig, startControlPlane } from '@sightline/server';
import { ensureConsoleBuilt } from '../packages/console/scripts/ensure-built.js';

const dataDir = resolve(process.env['SIGHTLINE_DEMO_DIR'] ?? '.sightline-demo');
const port = Number(process.env['SIGHTLINE_DEMO_PORT'] ?? '8443');

const line = (s = ''): void => {
  process.stdout.write(`${s}\n`);
};

if (!existsSync(join(dataDir, 'config.json'))) {
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
const applianceDir = join(dataDir, 'appliance');
const deviceName = 'demo-appliance';
if (!existsSync(join(applianceDir, 'root-key.json'))) {
  rmSync(applianceDir, { recursive: true, force: true });
  const existing = (await plane.services.devices.list('default')).find((d) => d.name === deviceName);
  if (existing !== undefined) await plane.services.devices.deregister('default', deviceName);
  const name = existing === undefined ? deviceName : `${deviceName}-${Date.now().toString(36)}`;
  const prov = await plane.services.devices.provision({ project: 'default', name, network: { mode: 'dhcp' }, ntp: [] });
  mkdirSync(dataDir, { recursive: true });
  const archive = join(dataDir, 'appliance.sightline-archive.age');
  const pass = join(dataDir, 'appliance.passphrase');
  writeFileSync(archive, prov.archive, { mode: 0o600 });
  writeFileSync(pass, `${prov.passphrase}\n`, { mode: 0o600 });
  // Asynchronously: the control plane it registers with runs in this very process.
  const reg = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolveRun) => {
    const child = spawn(process.execPath, ['--import', 'tsx', agentMain, 'register', '--archive', archive, '--data-dir', applianceDir, '--passphrase-file', pass], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
  agent = spawn(process.execPath, ['--import', 'tsx', agentMain, 'start', '--data-dir', applianceDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (chunk: Buffer): void => {
    for (const l of chunk.toString().split('\n')) if (l.trim() !== '') process.stdout.write(`[appliance] ${l}\n`);
  };
  agent.stdout?.on('data', prefix);
  agent.stderr?.on('data', prefix);
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
line('Press Ctrl-C to stop.');

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  line('\nStopping…');
  agent?.kill('SIGTERM');
  plane.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

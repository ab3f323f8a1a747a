/**
 * `npm run demo`: the control plane on the embedded defaults (SQLite, local
 * files, built-in CA) in ./.sightline-demo, until Ctrl-C. The first run
 * creates the folder and prints the admin's password and TOTP secret once.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initDataDir, loadConfig, startControlPlane } from '@sightline/server';

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
const plane = await startControlPlane(config);
const ca = join(dataDir, 'ca.pem');
line();
line(`Control plane: ${plane.url}  (HTTPS only, TLS 1.2+; CA certificate: ${ca})`);
line(`API document:  ${plane.url}/api/v1/openapi.json`);
line();
line('Next, in another terminal:');
line(`  npm run sightline -- login --url ${plane.url} --ca ${ca} --user admin`);
line('  npm run sightline -- whoami');
line('  npm run sightline -- user create alice --role Operator@default');
line();
line('Press Ctrl-C to stop.');

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  line('\nStopping…');
  plane.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

import type { Command } from 'commander';
import { shellQuote, type JsonOption } from '../context.js';
import { notice, printJson, printLine } from '../output/print.js';
import { intInRange } from './apikey.js';

interface InitOptions extends JsonOption {
  dataDir: string;
  admin?: string;
  name?: string[];
  port?: number;
  storageUrl?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const ONCE_WARNING =
  'The password and TOTP secret above are shown only this once and are not stored in plaintext. ' +
  'Add the secret to an authenticator app now (or scan the otpauth URI as a QR code) and keep the password in a password manager.';

async function init(opts: InitOptions): Promise<void> {
  // The server package (SQLite, Argon2, X.509) loads only for the two server commands.
  const { initDataDir } = await import('@sightline/server');
  const r = await initDataDir({
    dataDir: opts.dataDir,
    ...(opts.admin === undefined ? {} : { adminName: opts.admin }),
    ...(opts.name === undefined ? {} : { names: opts.name }),
    ...(opts.port === undefined ? {} : { port: opts.port }),
    ...(opts.storageUrl === undefined ? {} : { storageUrl: opts.storageUrl }),
  });
  const next = [
    `sightline server start --data-dir ${shellQuote(r.dataDir)}`,
    `sightline login --url ${r.url} --ca ${shellQuote(r.caFile)} --user ${shellQuote(r.admin.name)}`,
  ];
  if (opts.json === true) return printJson({ ...r, warning: ONCE_WARNING, next });
  printLine(
    [
      `Initialized a Sightline server in ${r.dataDir}.`,
      `  URL:            ${r.url}`,
      `  CA certificate: ${r.caFile}`,
      `  CA SHA-256:     ${r.caFingerprint}`,
      `  admin user:     ${r.admin.name}`,
      `  password:       ${r.admin.password}`,
      `  TOTP secret:    ${r.admin.totpSecret}`,
      `  otpauth URI:    ${r.admin.otpauthUri}`,
      '',
      `WARNING: ${ONCE_WARNING}`,
      '',
      'Next:',
      ...next.map((line) => `  ${line}`),
    ].join('\n'),
  );
}

async function start(opts: { dataDir: string; port?: number }): Promise<void> {
  const { loadConfig, startControlPlane } = await import('@sightline/server');
  const config = loadConfig(opts.dataDir, process.env, opts.port === undefined ? {} : { 'server.port': opts.port });
  const plane = await startControlPlane(config);
  printLine(`Sightline control plane listening on ${plane.url} (data ${config.dataDir}); Ctrl-C stops it.`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  notice(`${signal}: stopping`);
  await plane.close();
  notice('stopped');
}

export function registerServerCommands(program: Command): void {
  const server = program.command('server').description('set up and run a control plane on this machine');

  server
    .command('init')
    .description(
      'creates a data folder: config, root key, internal CA and server certificate, database, the default project ' +
        'and the first admin. Prints the admin password and TOTP secret once.',
    )
    .requiredOption('--data-dir <DIR>', 'an empty or new folder for the server state')
    .option('--admin <NAME>', 'name of the first admin user', 'admin')
    .option('--name <DNS_OR_IP>', 'an extra DNS name or IP for the server certificate (repeatable)', collect)
    .option('--port <N>', 'HTTPS port (default 8443)', intInRange(0, 65535))
    .option(
      '--storage-url <URL>',
      'postgres://… for PostgreSQL (default: embedded SQLite); SIGHTLINE_STORAGE_URL keeps a password out of ps',
    )
    .option('--json', 'print everything as one JSON object, for scripts')
    .addHelpText('after', '\nExample:\n  sightline server init --data-dir /var/lib/sightline --name sightline.example.com')
    .action((opts: InitOptions) => init(opts));

  server
    .command('start')
    .description('runs the control plane from a data folder until SIGINT or SIGTERM')
    .requiredOption('--data-dir <DIR>', 'the folder made by "sightline server init"')
    .option('--port <N>', 'HTTPS port (overrides the config file)', intInRange(0, 65535))
    .addHelpText('after', '\nExample:\n  sightline server start --data-dir /var/lib/sightline')
    .action((opts: { dataDir: string; port?: number }) => start(opts));
}

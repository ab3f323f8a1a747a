/**
 * The `sightline-agent` command. Run it as `bin/sightline-agent.js` or
 * `node --import tsx packages/agent/src/cli/main.ts`; `--help` lists the
 * commands and exit codes.
 *
 * @example
 * ```sh
 * sightline-agent register --archive /media/usb/cam-01.age --data-dir /var/lib/sightline-agent
 * sightline-agent status --data-dir /var/lib/sightline-agent --json
 * ```
 */
import { run } from './program.js';

for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2));

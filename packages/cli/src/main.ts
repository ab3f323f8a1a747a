/**
 * The `sightline` command. Run it as `bin/sightline.js` or
 * `node --import tsx packages/cli/src/main.ts`; `sightline --help` lists the
 * commands and the exit codes scripts can rely on.
 *
 * @example
 * ```sh
 * sightline login --url https://localhost:8443 --ca ./data/ca.pem --user admin
 * sightline user list --json
 * ```
 */
import { run } from './program.js';

// A closed pipe (`sightline user list | head -1`) is the reader being done, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await run(process.argv);

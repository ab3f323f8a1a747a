import { Command, CommanderError } from 'commander';
import { registerApiKeyCommands } from './commands/apikey.js';
import { registerAppCommands } from './commands/app.js';
import { registerArtifactCommands } from './commands/artifact.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerAuthCommands } from './commands/auth.js';
import { registerCameraCommands } from './commands/camera.js';
import { registerDeviceCommands } from './commands/device.js';
import { registerGroupCommands } from './commands/group.js';
import { registerKeyCommands } from './commands/key.js';
import { registerLogsCommands } from './commands/logs.js';
import { registerPackageCommands } from './commands/package.js';
import { registerPolicyCommands } from './commands/policy.js';
import { registerProjectCommands } from './commands/project.js';
import { registerReleaseCommands } from './commands/release.js';
import { registerSecretCommands } from './commands/secret.js';
import { registerServerCommands } from './commands/server.js';
import { registerSigningKeyCommands } from './commands/signing-key.js';
import { registerUserCommands } from './commands/user.js';
import { CliContext } from './context.js';
import { describeError, EXIT, EXIT_CODES_HELP, exitCodeOf } from './errors.js';

export const CLI_VERSION = '0.1.0';

/**
 * Builds the `sightline` command tree. Usage errors surface as
 * `CommanderError`s (exit 2) rather than ending the process, so {@link run}
 * owns every exit code.
 *
 * @example
 * ```ts
 * await buildProgram().parseAsync(['node', 'sightline', 'whoami', '--json']);
 * ```
 */
export function buildProgram(env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command();
  program
    .name('sightline')
    .description(
      'Sightline control plane: set up a server, sign in, and manage users, groups, policies, API keys, projects, encryption keys, devices, cameras, secrets, artifacts and logs; publish signed packages and deploy apps; read, export and verify the audit trail.',
    )
    .version(CLI_VERSION)
    .option('--profile <NAME>', 'the sign-in profile to use', 'default')
    // Inherited by every subcommand created below.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'error USAGE: ')) })
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', EXIT_CODES_HELP);
  const ctx = new CliContext(program, env);
  registerServerCommands(program);
  registerAuthCommands(program, ctx);
  registerUserCommands(program, ctx);
  registerGroupCommands(program, ctx);
  registerPolicyCommands(program, ctx);
  registerApiKeyCommands(program, ctx);
  registerProjectCommands(program, ctx);
  registerKeyCommands(program, ctx);
  registerDeviceCommands(program, ctx);
  registerCameraCommands(program, ctx);
  registerSecretCommands(program, ctx);
  registerArtifactCommands(program, ctx);
  registerSigningKeyCommands(program, ctx);
  registerPackageCommands(program, ctx);
  registerAppCommands(program, ctx);
  registerReleaseCommands(program, ctx);
  registerLogsCommands(program, ctx);
  registerAuditCommands(program, ctx);
  return program;
}

/**
 * Runs the CLI on `argv` (as `process.argv`) and returns the exit code.
 * Errors are printed to stderr as `error CODE: sentence`, never with a stack
 * trace unless SIGHTLINE_DEBUG=1.
 *
 * @example
 * ```ts
 * process.exitCode = await run(process.argv);
 * ```
 */
export async function run(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    await buildProgram(env).parseAsync([...argv]);
    return Number(process.exitCode ?? EXIT.OK);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the help or the usage error already.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.OK : EXIT.USAGE;
    }
    process.stderr.write(`${describeError(err)}\n`);
    if (env['SIGHTLINE_DEBUG'] === '1' && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
    return exitCodeOf(err);
  }
}

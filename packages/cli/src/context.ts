import type { Command } from 'commander';
import { ApiClient, checkServerUrl } from './client/api-client.js';
import { CliError, EXIT } from './errors.js';
import { readCaFile } from './files.js';
import { ProfileStore, type Profile } from './profile/profile-store.js';

/** What every command needs: the environment, the profile store and a way to get a signed-in client. */
export class CliContext {
  readonly profiles: ProfileStore;

  constructor(
    readonly program: Command,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.profiles = ProfileStore.fromEnv(env);
  }

  /** The `--profile` in effect (default `default`). */
  get profileName(): string {
    return this.program.opts<{ profile?: string }>().profile ?? 'default';
  }

  private envValue(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  /**
   * A client for the selected profile. SIGHTLINE_URL, SIGHTLINE_CA (a PEM
   * file) and SIGHTLINE_TOKEN override the profile; the profile's token and
   * CA are never sent to a SIGHTLINE_URL other than the profile's own.
   * `enrollment`: the command works with a TOTP-enrollment token.
   */
  client(options: { enrollment?: boolean; maxResponseBytes?: number } = {}): ApiClient {
    const rawUrl = this.envValue('SIGHTLINE_URL');
    const envUrl = rawUrl === undefined ? undefined : checkServerUrl(rawUrl);
    const envCa = this.envValue('SIGHTLINE_CA');
    const envToken = this.envValue('SIGHTLINE_TOKEN');
    const name = this.profileName;
    const stored = envUrl !== undefined && envToken !== undefined ? undefined : this.profiles.get(name);
    const profile: Profile | undefined = envUrl === undefined || stored?.url === envUrl ? stored : undefined;
    const url = envUrl ?? profile?.url;
    if (url === undefined) {
      throw new CliError(
        'NOT_LOGGED_IN',
        `No profile "${name}"; sign in with "sightline login --url URL --ca CA_FILE --user NAME", or set SIGHTLINE_URL and SIGHTLINE_TOKEN.`,
        EXIT.AUTH,
      );
    }
    const token = envToken ?? profile?.token;
    if (token === undefined) {
      const why =
        envUrl !== undefined
          ? `SIGHTLINE_URL is set but SIGHTLINE_TOKEN is not, and profile "${name}" holds no session for that URL`
          : `Profile "${name}" is signed out; sign in with "sightline login"`;
      throw new CliError('NOT_LOGGED_IN', `${why}.`, EXIT.AUTH);
    }
    if (envToken === undefined && profile?.expiresAt !== undefined && Date.parse(profile.expiresAt) <= Date.now()) {
      throw new CliError(
        'SESSION_EXPIRED',
        `The session of profile "${name}" ended at ${profile.expiresAt}; sign in again with "sightline login".`,
        EXIT.AUTH,
      );
    }
    if (envToken === undefined && profile?.scope === 'mfa-enroll' && options.enrollment !== true) {
      throw new CliError(
        'MFA_ENROLLMENT_REQUIRED',
        `Profile "${name}" has not finished TOTP enrollment; run "sightline mfa confirm --code CODE" with a code from your authenticator app, or "sightline login" again.`,
        EXIT.AUTH,
      );
    }
    const ca = envCa !== undefined ? readCaFile(envCa) : profile?.ca;
    return new ApiClient({
      url,
      token,
      ...(ca === undefined ? {} : { ca }),
      ...(options.maxResponseBytes === undefined ? {} : { maxResponseBytes: options.maxResponseBytes }),
    });
  }
}

/** `foo bar` → `'foo bar'` for next-step lines a person may paste into a shell. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * One URL path segment. `.` and `..` are refused: URL parsing would resolve
 * them (even %-escaped), sending the request to another route.
 */
export const seg = (s: string): string => {
  if (s === '.' || s === '..') throw new CliError('USAGE', `${JSON.stringify(s)} is not a valid name.`, EXIT.USAGE);
  return encodeURIComponent(s);
};

/** `--json` on read commands and writes. */
export interface JsonOption {
  json?: boolean;
}

/** `--project P` on project-scoped commands. */
export interface ProjectOption {
  project: string;
}

/** Adds `--project <PROJECT>` (default `default`) to a project-scoped command. */
export function withProject(cmd: Command): Command {
  return cmd.option('--project <PROJECT>', 'the project', 'default');
}

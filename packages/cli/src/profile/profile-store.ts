import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { CliError, EXIT } from '../errors.js';

/** A profiles file is a few KiB; anything near this is not ours. */
const MAX_PROFILES_BYTES = 1024 * 1024;
export const PROFILES_FILE = 'profiles.json';

const profileSchema = z.object({
  url: z.string().min(1).max(2048),
  /** The CA certificate (PEM text) the server's certificate must chain to. */
  ca: z
    .string()
    .max(64 * 1024)
    .optional(),
  token: z.string().max(1024).optional(),
  /** `mfa-enroll`: the token may only finish TOTP enrollment (`sightline mfa confirm`). */
  scope: z.enum(['full', 'mfa-enroll']).optional(),
  user: z.string().max(64).optional(),
  expiresAt: z.string().max(64).optional(),
});
export type Profile = z.infer<typeof profileSchema>;

const fileSchema = z.object({ version: z.literal(1), profiles: z.record(z.string(), profileSchema) });
type ProfilesFile = z.infer<typeof fileSchema>;

/** Profile names: no path characters, nothing that could be `__proto__`. */
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw new CliError('PROFILE_NAME_INVALID', 'A profile name is 1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit.', EXIT.USAGE);
  }
  return name;
}

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Sign-in profiles in `$SIGHTLINE_CONFIG_DIR/profiles.json` (default
 * `~/.config/sightline`). The file holds bearer tokens, so it is written
 * 0600 in a 0700 folder, atomically, and the modes are checked after every
 * write and before every read: a file others can read is refused, as ssh
 * refuses a private key with loose permissions.
 *
 * @example
 * ```ts
 * const store = ProfileStore.fromEnv(process.env);
 * store.put('default', { url: 'https://localhost:8443', ca: pem, token, user: 'admin' });
 * ```
 */
export class ProfileStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = join(dir, PROFILES_FILE);
  }

  static fromEnv(env: NodeJS.ProcessEnv): ProfileStore {
    const dir = env['SIGHTLINE_CONFIG_DIR'];
    return new ProfileStore(dir !== undefined && dir !== '' ? dir : join(homedir(), '.config', 'sightline'));
  }

  get(name: string): Profile | undefined {
    return this.readAll().profiles[checkProfileName(name)];
  }

  put(name: string, profile: Profile): void {
    const all = this.readAll();
    all.profiles[checkProfileName(name)] = profile;
    this.writeAll(all);
  }

  private readAll(): ProfilesFile {
    if (!existsSync(this.file)) return { version: 1, profiles: {} };
    this.checkModes();
    if (statSync(this.file).size > MAX_PROFILES_BYTES) {
      throw new CliError(
        'PROFILE_INVALID',
        `${this.file} is larger than ${MAX_PROFILES_BYTES} bytes; remove it and sign in again.`,
        EXIT.UNEXPECTED,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new CliError('PROFILE_INVALID', `${this.file} is not valid JSON; remove it and sign in again.`, EXIT.UNEXPECTED, {
        cause: err,
      });
    }
    const result = fileSchema.safeParse(parsed);
    if (!result.success)
      throw new CliError('PROFILE_INVALID', `${this.file} is not a Sightline profiles file; remove it and sign in again.`, EXIT.UNEXPECTED);
    return result.data;
  }

  private writeAll(all: ProfilesFile): void {
    if (!existsSync(this.dir)) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.checkDir();
    const tmp = join(this.dir, `.${PROFILES_FILE}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(tmp, 0o600); // the umask may have taken bits away; set exactly 0600
      renameSync(tmp, this.file);
    } finally {
      rmSync(tmp, { force: true });
    }
    this.checkModes();
  }

  private checkDir(): void {
    const mode = statSync(this.dir).mode;
    if ((mode & 0o077) !== 0) {
      throw new CliError(
        'PROFILE_INSECURE',
        `${this.dir} is mode ${octal(mode)}; others may read your tokens. Run "chmod 700 ${this.dir}".`,
        EXIT.UNEXPECTED,
      );
    }
  }

  /** The file must be 0600 and the folder 0700 (group and others: no access). */
  private checkModes(): void {
    this.checkDir();
    const mode = statSync(this.file).mode;
    if ((mode & 0o777) !== 0o600) {
      throw new CliError(
        'PROFILE_INSECURE',
        `${this.file} is mode ${octal(mode)}, not 0600; others may read your tokens. Run "chmod 600 ${this.file}".`,
        EXIT.UNEXPECTED,
      );
    }
  }
}

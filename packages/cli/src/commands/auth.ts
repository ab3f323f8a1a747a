import type { Command } from 'commander';
import { api } from '@sightline/protocol';
import { ApiClient, checkServerUrl } from '../client/api-client.js';
import { CliError, EXIT, ApiError } from '../errors.js';
import { readCaFile } from '../files.js';
import type { CliContext, JsonOption } from '../context.js';
import { grants, notice, printFields, printJson, printLine } from '../output/print.js';
import { isInteractive, promptHidden, promptLine, readSecretLines } from '../prompt/prompt.js';

type Session = api.LoginResponse;

interface LoginOptions extends JsonOption {
  url?: string;
  ca?: string;
  user?: string;
  passwordStdin?: boolean;
  totp?: string;
}

const noTty = (what: string, flag: string): CliError =>
  new CliError('TTY_REQUIRED', `There is no terminal to ask for ${what}; pass ${flag}.`, EXIT.USAGE);

/** Password + TOTP sign-in; asks for the code on a terminal when the server wants one. */
async function signIn(client: ApiClient, user: string, password: string, totp: string | undefined): Promise<Session> {
  const attempt = (code: string | undefined): Promise<Session> =>
    client.request('POST', '/api/v1/auth/login', {
      body: { user, password, ...(code === undefined ? {} : { totp: code }) },
      schema: api.loginResponse,
    });
  try {
    return await attempt(totp);
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'MFA_REQUIRED' && totp === undefined)) throw err;
    if (!isInteractive()) {
      throw new CliError(
        'MFA_REQUIRED',
        'The server asks for the 6-digit code from your authenticator app; pass it with --totp CODE.',
        EXIT.AUTH,
      );
    }
    return attempt(await promptLine('Authenticator code: '));
  }
}

async function login(ctx: CliContext, opts: LoginOptions): Promise<void> {
  const name = ctx.profileName;
  const existing = ctx.profiles.get(name);
  const rawUrl = opts.url ?? existing?.url;
  if (rawUrl === undefined) throw new CliError('URL_REQUIRED', 'Give the server URL with --url https://HOST:PORT.', EXIT.USAGE);
  const url = checkServerUrl(rawUrl);
  const ca = opts.ca !== undefined ? readCaFile(opts.ca) : existing?.url === url ? existing.ca : undefined;
  const user = opts.user ?? existing?.user;
  if (user === undefined) throw new CliError('USER_REQUIRED', 'Give the user name with --user NAME.', EXIT.USAGE);

  let password: string;
  if (opts.passwordStdin === true) [password = ''] = await readSecretLines(1, 'the password');
  else if (isInteractive()) password = await promptHidden(`Password for ${user}: `);
  else throw noTty('the password', '--password-stdin and pipe the password in');

  const client = new ApiClient({ url, ...(ca === undefined ? {} : { ca }) });
  let session = await signIn(client, user, password, opts.totp);
  const save = (s: Session): void =>
    ctx.profiles.put(name, { url, ...(ca === undefined ? {} : { ca }), user, token: s.token, scope: s.scope, expiresAt: s.expiresAt });

  if (session.scope === 'mfa-enroll') {
    // Seed point 3: MFA on every account. First sign-in enrolls TOTP before anything else works.
    const enrolling = client.withToken(session.token);
    const e = await enrolling.request('POST', '/api/v1/auth/mfa/enroll', { schema: api.mfaEnrollResponse });
    const lines = [
      `${user} has no authenticator yet. Add this secret to an authenticator app (or turn the otpauth URI into a QR code):`,
      `  secret:      ${e.secret}`,
      `  otpauth URI: ${e.otpauthUri}`,
      'It is shown only this once.',
    ];
    if (!isInteractive()) {
      save(session);
      const next = `sightline mfa confirm --code CODE${name === 'default' ? '' : ` --profile ${name}`}`;
      if (opts.json === true)
        printJson({
          status: 'mfa-enrollment-required',
          user,
          profile: name,
          secret: e.secret,
          otpauthUri: e.otpauthUri,
          expiresAt: session.expiresAt,
          next,
        });
      else printLine([...lines, `Then, within 10 minutes, run: ${next}`].join('\n'));
      return;
    }
    notice(lines.join('\n'));
    session = await enrolling.request('POST', '/api/v1/auth/mfa/confirm', {
      body: { code: await promptLine('First code from the app: ') },
      schema: api.loginResponse,
    });
  }
  save(session);
  if (opts.json === true)
    printJson({ status: 'signed-in', user, profile: name, url, expiresAt: session.expiresAt, mfaPresent: session.mfaPresent });
  else printLine(`Signed in to ${url} as ${user} (profile ${name}) until ${session.expiresAt}.`);
}

export function registerAuthCommands(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .summary('signs in and stores a session in the profile')
    .description(
      'Signs in with password and TOTP code and stores the session (mode 0600) in the profile. ' +
        'On a terminal it asks for what is missing; in scripts pass --password-stdin and --totp. ' +
        'A user without an authenticator is walked through TOTP enrollment.',
    )
    .option('--url <URL>', "the server's HTTPS URL (default: the profile's)")
    .option('--ca <FILE>', "the server's CA certificate, DATA_DIR/ca.pem (default: the profile's; the system roots if none)")
    .option('--user <NAME>', "user name (default: the profile's)")
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--totp <CODE>', 'the 6-digit code from your authenticator app')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  printf %s "$PW" | sightline login --url https://localhost:8443 --ca ./data/ca.pem --user admin --password-stdin --totp 123456',
    )
    .action((opts: LoginOptions) => login(ctx, opts));

  program
    .command('logout')
    .description('ends the session on the server and removes the token from the profile')
    .option('--json', 'print the result as JSON')
    .action(async (opts: JsonOption) => {
      const name = ctx.profileName;
      const profile = ctx.profiles.get(name);
      if (profile?.token === undefined) throw new CliError('NOT_LOGGED_IN', `Profile "${name}" is not signed in.`, EXIT.AUTH);
      const { token: _token, scope: _scope, expiresAt: _expiresAt, ...rest } = profile;
      try {
        await new ApiClient({ url: profile.url, token: profile.token, ...(profile.ca === undefined ? {} : { ca: profile.ca }) }).request(
          'POST',
          '/api/v1/auth/logout',
        );
      } catch (err) {
        // An expired or revoked token is already signed out; anything else is reported after the local token is gone.
        if (!(err instanceof ApiError && err.status === 401)) {
          ctx.profiles.put(name, rest);
          throw err;
        }
      }
      ctx.profiles.put(name, rest);
      if (opts.json === true) printJson({ status: 'signed-out', profile: name });
      else printLine(`Signed out (profile ${name}).`);
    });

  program
    .command('whoami')
    .description('shows who the current credentials belong to, with roles and groups')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const client = ctx.client();
      const me = await client.request('GET', '/api/v1/auth/whoami', { schema: api.whoamiResponse });
      if (opts.json === true) return printJson({ ...me, url: client.url });
      printFields([
        ['user', me.user],
        ['signed in as', me.type === 'user' ? `session${me.mfaPresent ? ' (MFA)' : ''}` : `${me.type} ${me.name}`],
        ['roles', grants(me.roles)],
        ['groups', me.groups],
        ['server', client.url],
      ]);
    });

  const mfa = program.command('mfa').description('your own TOTP enrollment');
  mfa
    .command('confirm')
    .description('finishes TOTP enrollment started by "sightline login" with the first code from the app')
    .requiredOption('--code <CODE>', 'the 6-digit code from your authenticator app')
    .option('--json', 'print the result as JSON')
    .action(async (opts: JsonOption & { code: string }) => {
      const name = ctx.profileName;
      const profile = ctx.profiles.get(name);
      const session = await ctx
        .client({ enrollment: true })
        .request('POST', '/api/v1/auth/mfa/confirm', { body: { code: opts.code }, schema: api.loginResponse });
      if (profile !== undefined)
        ctx.profiles.put(name, { ...profile, token: session.token, scope: session.scope, expiresAt: session.expiresAt });
      if (opts.json === true)
        printJson({
          status: 'signed-in',
          user: profile?.user,
          profile: name,
          expiresAt: session.expiresAt,
          mfaPresent: session.mfaPresent,
        });
      else printLine(`TOTP enrolled; signed in${profile?.user === undefined ? '' : ` as ${profile.user}`} until ${session.expiresAt}.`);
    });

  const password = program.command('password').description('your own password');
  password
    .command('change')
    .description(
      'changes your password; your other sessions end. Asks on a terminal, else reads current and new password as two lines of stdin',
    )
    .option('--json', 'print the result as JSON')
    .action(async (opts: JsonOption) => {
      const client = ctx.client();
      let currentPassword: string;
      let newPassword: string;
      if (isInteractive()) {
        currentPassword = await promptHidden('Current password: ');
        newPassword = await promptHidden('New password: ');
        if ((await promptHidden('New password again: ')) !== newPassword)
          throw new CliError('PASSWORD_MISMATCH', 'The two new passwords differ; nothing was changed.', EXIT.INVALID);
      } else {
        [currentPassword = '', newPassword = ''] = await readSecretLines(2, 'the current and the new password');
      }
      await client.request('POST', '/api/v1/auth/password', { body: { currentPassword, newPassword } });
      if (opts.json === true) printJson({ status: 'password-changed' });
      else printLine('Password changed; your other sessions were ended.');
    });
}

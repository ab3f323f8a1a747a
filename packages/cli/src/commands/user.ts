import { InvalidArgumentError, type Command } from 'commander';
import { z } from 'zod';
import { api } from '@sightline/protocol';
import { seg, type CliContext, type JsonOption } from '../context.js';
import { grants, printFields, printJson, printLine, printTable } from '../output/print.js';
import { readSecretLines } from '../prompt/prompt.js';

type UserView = z.infer<typeof api.userView>;
interface RoleGrant {
  role: string;
  project: string;
}

/** `ReadOnly@*` → `{ role: 'ReadOnly', project: '*' }`; collects repeated `--role` flags. */
export function collectRole(value: string, previous: RoleGrant[] = []): RoleGrant[] {
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1)
    throw new InvalidArgumentError('Give a role as ROLE@PROJECT, e.g. Operator@default or ReadOnly@*.');
  return [...previous, { role: value.slice(0, at), project: value.slice(at + 1) }];
}

export function describeUser(u: UserView): void {
  printFields([
    ['name', u.name],
    ['mfa enrolled', u.mfaEnrolled ? 'yes' : 'no'],
    ['disabled', u.disabled ? 'yes' : 'no'],
    ['created', u.createdAt],
    ['password changed', u.passwordChangedAt],
    ['groups', u.groups],
    ['roles', grants(u.roles)],
    ['policies', u.policies],
  ]);
}

const USERS = '/api/v1/users';
const SHOWN_ONCE = 'Shown only this once and not stored anywhere in plaintext; hand it over on a safe channel.';

export function registerUserCommands(program: Command, ctx: CliContext): void {
  const user = program.command('user').description('people who sign in (users)');

  user
    .command('create')
    .argument('<name>', 'user name')
    .description('creates a user; a generated initial password is printed once. The user enrolls TOTP at first sign-in')
    .option(
      '--role <ROLE@PROJECT>',
      'grant a built-in role (Admin, Operator, Developer, Auditor, ReadOnly) for a project or * (repeatable)',
      collectRole,
    )
    .option('--password-stdin', 'set the initial password from the first line of stdin instead of generating one')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  sightline user create alice --role Operator@default --role ReadOnly@*')
    .action(async (name: string, opts: JsonOption & { role?: RoleGrant[]; passwordStdin?: boolean }) => {
      const password = opts.passwordStdin === true ? (await readSecretLines(1, 'the password'))[0] : undefined;
      const body = { name, ...(password === undefined ? {} : { password }), ...(opts.role === undefined ? {} : { roles: opts.role }) };
      const res = await ctx.client().request('POST', USERS, { body, schema: api.createUserResponse });
      if (opts.json === true) return printJson(res);
      printLine(`Created user ${res.user.name}${opts.role === undefined ? '' : ` with ${grants(opts.role).join(', ')}`}.`);
      if (res.initialPassword !== undefined) printLine(`Initial password: ${res.initialPassword}\n${SHOWN_ONCE}`);
    });

  user
    .command('list')
    .description('lists users')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const res = await ctx.client().request('GET', USERS, { schema: z.object({ users: z.array(api.userView) }) });
      if (opts.json === true) return printJson(res);
      printTable(
        res.users.map((u) => ({ ...u, mfa: u.mfaEnrolled ? 'yes' : 'no', status: u.disabled ? 'disabled' : 'active' })),
        ['name', 'mfa', 'status', 'createdAt'],
      );
    });

  user
    .command('describe')
    .argument('<name>', 'user name')
    .description('shows a user with groups, roles and attached policies')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption) => {
      const u = await ctx.client().request('GET', `${USERS}/${seg(name)}`, { schema: api.userView });
      if (opts.json === true) return printJson(u);
      describeUser(u);
    });

  user
    .command('delete')
    .argument('<name>', 'user name')
    .description('deletes a user (their sessions and API keys stop working)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption) => {
      await ctx.client().request('DELETE', `${USERS}/${seg(name)}`);
      if (opts.json === true) return printJson({ ok: true, deleted: name });
      printLine(`Deleted user ${name}.`);
    });

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    user
      .command(verb)
      .argument('<name>', 'user name')
      .description(disabled ? 'disables a user: sign-in, sessions and API keys stop working' : 'enables a disabled user')
      .option('--json', 'print the result as JSON')
      .action(async (name: string, opts: JsonOption) => {
        const u = await ctx.client().request('PATCH', `${USERS}/${seg(name)}`, { body: { disabled }, schema: api.userView });
        if (opts.json === true) return printJson(u);
        printLine(`${disabled ? 'Disabled' : 'Enabled'} user ${u.name}.`);
      });
  }

  user
    .command('reset-mfa')
    .argument('<name>', 'user name')
    .description("clears a user's TOTP; they enroll again at next sign-in")
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption) => {
      const u = await ctx.client().request('POST', `${USERS}/${seg(name)}/reset-mfa`, { schema: api.userView });
      if (opts.json === true) return printJson(u);
      printLine(`Cleared TOTP of ${u.name}; they enroll a new authenticator at next sign-in.`);
    });

  user
    .command('reset-password')
    .argument('<name>', 'user name')
    .description('sets a new password for a user; a generated one is printed once')
    .option('--password-stdin', 'read the new password from the first line of stdin instead of generating one')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & { passwordStdin?: boolean }) => {
      const password = opts.passwordStdin === true ? (await readSecretLines(1, 'the password'))[0] : undefined;
      const res = await ctx.client().request('POST', `${USERS}/${seg(name)}/reset-password`, {
        body: password === undefined ? {} : { password },
        schema: api.resetPasswordResponse,
      });
      if (opts.json === true) return printJson(res);
      printLine(`Set a new password for ${res.user.name}.`);
      if (res.password !== undefined) printLine(`New password: ${res.password}\n${SHOWN_ONCE}`);
    });
}

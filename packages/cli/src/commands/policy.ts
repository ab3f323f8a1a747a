import { Option, type Command } from 'commander';
import { z } from 'zod';
import { api } from '@sightline/protocol';
import { CliError, EXIT } from '../errors.js';
import { readJsonFile } from '../files.js';
import { seg, type CliContext, type JsonOption } from '../context.js';
import { printFields, printJson, printLine, printTable } from '../output/print.js';

const POLICIES = '/api/v1/policies';

interface PrincipalOptions {
  user?: string;
  group?: string;
}

/** `--user U` or `--group G`, exactly one. */
function principalOf(opts: PrincipalOptions): { principalType: 'user' | 'group'; principal: string } {
  if (opts.user !== undefined && opts.group === undefined) return { principalType: 'user', principal: opts.user };
  if (opts.group !== undefined && opts.user === undefined) return { principalType: 'group', principal: opts.group };
  throw new CliError('USAGE', 'Give exactly one of --user NAME or --group NAME.', EXIT.USAGE);
}

const principalText = (p: ReturnType<typeof principalOf>): string => `${p.principalType} ${p.principal}`;

function withPrincipalOptions(cmd: Command): Command {
  return cmd.option('--user <NAME>', 'a user').option('--group <NAME>', 'a group');
}

const SIMULATE_HELP = `
Exit status: 0 when the request would be allowed, 10 when denied (also with
--json), so scripts can branch on it; other codes mean the check itself failed.

Example:
  sightline policy simulate --user alice --action device:Reboot --resource 'srn:sightline:default:device/cam-01'
  if sightline policy simulate --user ci --action user:Delete --resource 'srn:sightline::user/*' >/dev/null; then echo "too broad"; fi`;

const EXAMPLE_DOC = `
Example document (DOC.json):
  { "version": "2026-01-01",
    "statements": [ { "sid": "NoDeletes", "effect": "deny", "actions": ["*:Delete"], "resources": ["*"] } ] }`;

export function registerPolicyCommands(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('managed policies, role grants and the policy simulator');

  policy
    .command('create')
    .argument('<name>', 'policy name')
    .description('creates a managed policy from a JSON document of allow/deny statements')
    .requiredOption('--file <DOC.json>', 'the policy document')
    .option('--description <TEXT>', 'what the policy is for')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', EXAMPLE_DOC)
    .action(async (name: string, opts: JsonOption & { file: string; description?: string }) => {
      const document = readJsonFile(opts.file, 'the policy document');
      const p = await ctx.client().request('POST', POLICIES, {
        body: { name, document, ...(opts.description === undefined ? {} : { description: opts.description }) },
        schema: api.policyView,
      });
      if (opts.json === true) return printJson(p);
      printLine(`Created policy ${p.name}.`);
    });

  policy
    .command('list')
    .description('lists managed policies')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const res = await ctx.client().request('GET', POLICIES, { schema: z.object({ policies: z.array(api.policyView) }) });
      if (opts.json === true) return printJson(res);
      printTable(res.policies, ['name', 'description', 'updatedAt']);
    });

  policy
    .command('get')
    .argument('<name>', 'policy name')
    .description('shows a policy and its document')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption) => {
      const p = await ctx.client().request('GET', `${POLICIES}/${seg(name)}`, { schema: api.policyView });
      if (opts.json === true) return printJson(p);
      printFields([
        ['name', p.name],
        ['description', p.description],
        ['updated', p.updatedAt],
      ]);
      printLine(JSON.stringify(p.document, null, 2));
    });

  policy
    .command('update')
    .argument('<name>', 'policy name')
    .description("replaces a policy's document")
    .requiredOption('--file <DOC.json>', 'the new policy document')
    .option('--description <TEXT>', 'a new description')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & { file: string; description?: string }) => {
      const document = readJsonFile(opts.file, 'the policy document');
      const p = await ctx.client().request('PUT', `${POLICIES}/${seg(name)}`, {
        body: { document, ...(opts.description === undefined ? {} : { description: opts.description }) },
        schema: api.policyView,
      });
      if (opts.json === true) return printJson(p);
      printLine(`Updated policy ${p.name}.`);
    });

  policy
    .command('delete')
    .argument('<name>', 'policy name')
    .description('deletes a policy and its attachments')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption) => {
      await ctx.client().request('DELETE', `${POLICIES}/${seg(name)}`);
      if (opts.json === true) return printJson({ ok: true, deleted: name });
      printLine(`Deleted policy ${name}.`);
    });

  withPrincipalOptions(policy.command('attach').argument('<name>', 'policy name').description('attaches a policy to a user or a group'))
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & PrincipalOptions) => {
      const p = principalOf(opts);
      await ctx.client().request('POST', `${POLICIES}/${seg(name)}/attachments`, { body: p });
      if (opts.json === true) return printJson({ ok: true, policy: name, attachedTo: p });
      printLine(`Attached policy ${name} to ${principalText(p)}.`);
    });

  withPrincipalOptions(policy.command('detach').argument('<name>', 'policy name').description('detaches a policy from a user or a group'))
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption & PrincipalOptions) => {
      const p = principalOf(opts);
      await ctx.client().request('DELETE', `${POLICIES}/${seg(name)}/attachments/${p.principalType}/${seg(p.principal)}`);
      if (opts.json === true) return printJson({ ok: true, policy: name, detachedFrom: p });
      printLine(`Detached policy ${name} from ${principalText(p)}.`);
    });

  for (const [verb, path, done] of [
    ['grant-role', '/api/v1/roles/grants', 'Granted'],
    ['revoke-role', '/api/v1/roles/revocations', 'Revoked'],
  ] as const) {
    withPrincipalOptions(
      policy
        .command(verb)
        .argument('<role>', 'Admin, Operator, Developer, Auditor or ReadOnly')
        .description(
          verb === 'grant-role' ? 'grants a built-in role to a user or group for a project, or * for all' : 'revokes a role grant',
        ),
    )
      .requiredOption('--project <PROJECT>', 'a project name, or * for all projects')
      .option('--json', 'print the result as JSON')
      .addHelpText('after', `\nExample:\n  sightline policy ${verb} Operator --group ops --project default`)
      .action(async (role: string, opts: JsonOption & PrincipalOptions & { project: string }) => {
        const p = principalOf(opts);
        await ctx.client().request('POST', path, { body: { ...p, role, project: opts.project } });
        if (opts.json === true) return printJson({ ok: true, role, project: opts.project, ...p });
        printLine(`${done} ${role}@${opts.project} ${verb === 'grant-role' ? 'to' : 'from'} ${principalText(p)}.`);
      });
  }

  policy
    .command('simulate')
    .description('answers whether a user would be allowed an action on a resource, and which statement decides')
    .requiredOption('--user <NAME>', 'the user to test')
    .requiredOption('--action <ACTION>', 'e.g. device:Reboot')
    .requiredOption('--resource <SRN>', 'e.g. srn:sightline:default:device/cam-01')
    .addOption(new Option('--no-mfa', 'as if the user had signed in without MFA (e.g. with an API key)'))
    .option('--source-ip <IP>', 'the source address to assume', '127.0.0.1')
    .option('--json', 'print JSON')
    .addHelpText('after', SIMULATE_HELP)
    .action(async (opts: JsonOption & { user: string; action: string; resource: string; mfa: boolean; sourceIp: string }) => {
      const res = await ctx.client().request('POST', `${POLICIES}/simulate`, {
        body: { user: opts.user, action: opts.action, resource: opts.resource, mfaPresent: opts.mfa, sourceIp: opts.sourceIp },
        schema: api.simulateResponse,
      });
      if (res.decision === 'deny') process.exitCode = EXIT.SIMULATE_DENY;
      if (opts.json === true) return printJson(res);
      const why = {
        allowed: 'a statement allows it',
        'explicit-deny': 'a statement explicitly denies it',
        'implicit-deny': 'no statement allows it',
      }[res.reason];
      printLine(`${res.decision.toUpperCase()}: ${why}.`);
      const m = res.matched;
      if (m !== undefined)
        printLine(`Decided by ${m.policy}, statement ${m.statementIndex}${m.sid === undefined ? '' : ` (sid ${m.sid})`}.`);
    });
}

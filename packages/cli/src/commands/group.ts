import type { Command } from 'commander';
import { z } from 'zod';
import { api } from '@sightline/protocol';
import { seg, type CliContext, type JsonOption } from '../context.js';
import { grants, printFields, printJson, printLine, printTable } from '../output/print.js';

const GROUPS = '/api/v1/groups';

export function registerGroupCommands(program: Command, ctx: CliContext): void {
  const group = program.command('group').description('groups of users, to grant roles and policies once for many');

  group
    .command('create')
    .argument('<name>', 'group name')
    .description('creates a group')
    .option('--description <TEXT>', 'what the group is for')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  sightline group create ops --description "on-call operators"')
    .action(async (name: string, opts: JsonOption & { description?: string }) => {
      const g = await ctx.client().request('POST', GROUPS, {
        body: { name, ...(opts.description === undefined ? {} : { description: opts.description }) },
        schema: api.groupView,
      });
      if (opts.json === true) return printJson(g);
      printLine(`Created group ${g.name}.`);
    });

  group
    .command('list')
    .description('lists groups')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const res = await ctx.client().request('GET', GROUPS, { schema: z.object({ groups: z.array(api.groupView) }) });
      if (opts.json === true) return printJson(res);
      printTable(res.groups, ['name', 'description', 'createdAt']);
    });

  group
    .command('describe')
    .argument('<name>', 'group name')
    .description('shows a group with members, roles and attached policies')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption) => {
      const g = await ctx.client().request('GET', `${GROUPS}/${seg(name)}`, { schema: api.groupView });
      if (opts.json === true) return printJson(g);
      printFields([
        ['name', g.name],
        ['description', g.description],
        ['created', g.createdAt],
        ['members', g.members],
        ['roles', grants(g.roles)],
        ['policies', g.policies],
      ]);
    });

  group
    .command('delete')
    .argument('<name>', 'group name')
    .description('deletes a group (its members keep their own grants)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption) => {
      await ctx.client().request('DELETE', `${GROUPS}/${seg(name)}`);
      if (opts.json === true) return printJson({ ok: true, deleted: name });
      printLine(`Deleted group ${name}.`);
    });

  group
    .command('add-member')
    .argument('<group>', 'group name')
    .argument('<user>', 'user name')
    .description('adds a user to a group')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, user: string, opts: JsonOption) => {
      await ctx.client().request('POST', `${GROUPS}/${seg(name)}/members`, { body: { user } });
      if (opts.json === true) return printJson({ ok: true, group: name, added: user });
      printLine(`Added ${user} to group ${name}.`);
    });

  group
    .command('remove-member')
    .argument('<group>', 'group name')
    .argument('<user>', 'user name')
    .description('removes a user from a group')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, user: string, opts: JsonOption) => {
      await ctx.client().request('DELETE', `${GROUPS}/${seg(name)}/members/${seg(user)}`);
      if (opts.json === true) return printJson({ ok: true, group: name, removed: user });
      printLine(`Removed ${user} from group ${name}.`);
    });
}

import { InvalidArgumentError, type Command } from 'commander';
import { z } from 'zod';
import { api } from '@sightline/protocol';
import { seg, type CliContext, type JsonOption } from '../context.js';
import { printFields, printJson, printLine, printTable } from '../output/print.js';

const PROJECTS = '/api/v1/projects';

export function registerProjectCommands(program: Command, ctx: CliContext): void {
  const project = program.command('project').description('projects (tenants) with their own keys and policies');

  project
    .command('create')
    .argument('<name>', 'a-z, 0-9 and -, up to 63 characters')
    .description('creates a project')
    .option('--description <TEXT>', 'what the project is for')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  sightline project create store-42 --description "Store 42 cameras"')
    .action(async (name: string, opts: JsonOption & { description?: string }) => {
      const p = await ctx.client().request('POST', PROJECTS, {
        body: { name, ...(opts.description === undefined ? {} : { description: opts.description }) },
        schema: api.projectView,
      });
      if (opts.json === true) return printJson(p);
      printLine(`Created project ${p.name}.`);
    });

  project
    .command('list')
    .description('lists projects')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const res = await ctx.client().request('GET', PROJECTS, { schema: z.object({ projects: z.array(api.projectView) }) });
      if (opts.json === true) return printJson(res);
      printTable(res.projects, ['name', 'description', 'createdAt']);
    });

  project
    .command('describe')
    .argument('<name>', 'project name')
    .description('shows a project')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption) => {
      const p = await ctx.client().request('GET', `${PROJECTS}/${seg(name)}`, { schema: api.projectView });
      if (opts.json === true) return printJson(p);
      printFields([
        ['name', p.name],
        ['description', p.description],
        ['created', p.createdAt],
        ['output preview', p.settings === undefined ? 'unknown' : p.settings.outputPreview ? 'on' : 'off'],
      ]);
    });

  project
    .command('settings')
    .argument('<name>', 'project name')
    .description("changes a project's settings (Admin); audited")
    .option(
      '--output-preview <on|off>',
      'let principals with device:ViewOutput preview app outputs in the console (off by default)',
      (v: string) => {
        if (v !== 'on' && v !== 'off') throw new InvalidArgumentError('Give on or off.');
        return v;
      },
    )
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  sightline project settings store-42 --output-preview on')
    .action(async (name: string, opts: JsonOption & { outputPreview?: 'on' | 'off' }) => {
      const body = opts.outputPreview === undefined ? {} : { outputPreview: opts.outputPreview === 'on' };
      const p = await ctx.client().request('PUT', `${PROJECTS}/${seg(name)}/settings`, { body, schema: api.projectView });
      if (opts.json === true) return printJson(p);
      printLine(`Project ${p.name}: output preview ${p.settings?.outputPreview === true ? 'on' : 'off'}.`);
    });

  project
    .command('delete')
    .argument('<name>', 'project name')
    .description('deletes a project')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, opts: JsonOption) => {
      await ctx.client().request('DELETE', `${PROJECTS}/${seg(name)}`);
      if (opts.json === true) return printJson({ ok: true, deleted: name });
      printLine(`Deleted project ${name}.`);
    });
}

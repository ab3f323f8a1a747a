import type { Command } from 'commander';
import { keyViews } from '@sightline/protocol';
import { readJsonFile } from '../files.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { printFields, printJson, printLine, printTable } from '../output/print.js';
import { intInRange } from './apikey.js';

/** A key as the server shows it (never its material). */
export const { keyView } = keyViews;
const { keyDetail } = keyViews;
type KeyView = keyViews.KeyView;

const keysPath = (project: string): string => `/api/v1/projects/${seg(project)}/keys`;
const keyPath = (project: string, name: string): string => `${keysPath(project)}/${seg(name)}`;
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);

const POLICY_EXAMPLE = `
A key policy (--policy-file) is a policy document checked, besides the caller's
own rights, whenever the key is used (key:Use). Example: use only with MFA and
from the office network:
  { "version": "2026-01-01",
    "statements": [ { "effect": "allow", "actions": ["key:Use"], "resources": ["*"],
                      "conditions": { "mfaPresent": true, "sourceIp": ["10.0.0.0/8"] } } ] }

Example:
  sightline key create cameras --description "camera credentials" --project store-42`;

const DELETION_HELP = `
After the waiting period the key material is destroyed: everything encrypted
under the key is then gone for good (crypto-shredding); nobody, not even an
administrator with the server's root key, can read it again. Until then the
key is unusable and "sightline key cancel-deletion NAME" brings it back
(disabled).

Example:
  sightline key schedule-deletion old-logs --days 7`;

export function registerKeyCommands(program: Command, ctx: CliContext): void {
  const key = program
    .command('key')
    .description('encryption keys (KMS): service-managed keys and customer-managed keys with rotation, disable and scheduled deletion');

  withProject(
    key.command('create').argument('<name>', 'key name').description('creates a customer-managed key (AES-256 master key, sealed at rest)'),
  )
    .option('--description <TEXT>', 'what the key is for')
    .option('--policy-file <FILE>', 'a key policy document: who may use and who may administer the key')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', POLICY_EXAMPLE)
    .action(async (name: string, opts: JsonOption & ProjectOption & { description?: string; policyFile?: string }) => {
      const body = {
        name,
        ...(opts.description === undefined ? {} : { description: opts.description }),
        ...(opts.policyFile === undefined ? {} : { policy: readJsonFile(opts.policyFile, 'the key policy') }),
      };
      const k = await ctx.client().request('POST', keysPath(opts.project), { body, schema: keyView });
      if (opts.json === true) return printJson(k);
      printLine(`Created key ${k.name} in project ${k.project} (id ${k.id}, version ${k.currentVersion}).`);
    });

  withProject(key.command('list').description("lists a project's keys, service-managed and customer-managed"))
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const res = await ctx.client().request('GET', keysPath(opts.project), { schema: keyViews.keyList });
      if (opts.json === true) return printJson(res);
      printTable(
        res.keys.map((k) => ({ ...k, managed: k.managedBy, version: k.currentVersion, deletion: k.destroyedAt ?? k.deletionDate })),
        ['name', 'managed', 'purpose', 'state', 'version', 'deletion', 'description'],
      );
    });

  withProject(key.command('describe').argument('<name>', 'key name').description('shows a key and its versions (never its material)'))
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption & ProjectOption) => {
      const k = await ctx.client().request('GET', keyPath(opts.project, name), { schema: keyDetail });
      if (opts.json === true) return printJson(k);
      printFields([
        ['name', k.name],
        ['project', k.project],
        ['id', k.id],
        ['managed by', k.managedBy],
        ['purpose', k.purpose],
        ['state', k.state],
        ['description', k.description],
        ['current version', k.currentVersion],
        ['key policy', k.hasPolicy ? 'yes' : 'no'],
        ['created', k.createdAt],
        ['deletion date', k.deletionDate],
        ['destroyed', k.destroyedAt],
      ]);
      printLine();
      printTable(
        k.versions.map((v) => ({ ...v, material: v.destroyed ? 'destroyed' : 'present' })),
        ['version', 'createdAt', 'material'],
      );
    });

  const change = (verb: string, description: string, done: (k: KeyView, project: string) => string, help?: string): void => {
    const cmd = withProject(key.command(verb).argument('<name>', 'key name').description(description))
      .option('--json', 'print the result as JSON')
      .action(async (name: string, opts: JsonOption & ProjectOption) => {
        const k = await ctx.client().request('POST', `${keyPath(opts.project, name)}/${verb}`, { schema: keyView });
        if (opts.json === true) return printJson(k);
        printLine(done(k, opts.project));
      });
    if (help !== undefined) cmd.addHelpText('after', help);
  };

  change(
    'rotate',
    'adds a key version: new data is encrypted with it, data under older versions still decrypts',
    (k) => `Rotated key ${k.name}: new data now uses version ${k.currentVersion}; older versions still decrypt.`,
  );
  change('enable', 'enables a disabled key', (k) => `Enabled key ${k.name}; data under it is readable again.`);
  change(
    'disable',
    'disables a key: everything encrypted under it is unreadable until the key is enabled again',
    (k, project) =>
      `Disabled key ${k.name}: everything encrypted under it is unreadable until "sightline key enable ${shellQuote(k.name)}${projectFlag(project)}".`,
  );
  change(
    'cancel-deletion',
    'cancels a scheduled deletion; the key comes back disabled',
    (k, project) =>
      `Cancelled the deletion of key ${k.name}; it is ${k.state} now. Enable it with "sightline key enable ${shellQuote(k.name)}${projectFlag(project)}".`,
  );

  withProject(
    key
      .command('schedule-deletion')
      .argument('<name>', 'key name')
      .description('schedules the destruction of a key after 7 to 30 days; the data under it is then gone for good'),
  )
    .option('--days <N>', 'waiting period in days, 7 to 30 (server default 30)', intInRange(7, 30))
    .option('--json', 'print the result as JSON')
    .addHelpText('after', DELETION_HELP)
    .action(async (name: string, opts: JsonOption & ProjectOption & { days?: number }) => {
      const k = await ctx.client().request('POST', `${keyPath(opts.project, name)}/schedule-deletion`, {
        body: opts.days === undefined ? {} : { days: opts.days },
        schema: keyView,
      });
      const warning =
        `On ${k.deletionDate ?? '(no date given)'} the key material of ${k.name} will be destroyed, and everything encrypted ` +
        'under the key will be gone for good: nobody can decrypt it after that, not even an administrator.';
      const undo = `sightline key cancel-deletion ${shellQuote(k.name)}${projectFlag(opts.project)}`;
      if (opts.json === true) return printJson({ ...k, warning, cancelWith: undo });
      printLine(`Key ${k.name} is scheduled for deletion on ${k.deletionDate ?? '(no date given)'}; it cannot be used meanwhile.`);
      printLine(`WARNING: ${warning}`);
      printLine(`To keep the key, run before that date: ${undo}`);
    });
}

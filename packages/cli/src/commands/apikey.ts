import { InvalidArgumentError, type Command } from 'commander';
import { z } from 'zod';
import { api } from '@sightline/protocol';
import { readJsonFile } from '../files.js';
import { seg, type CliContext, type JsonOption } from '../context.js';
import { printJson, printLine, printTable } from '../output/print.js';

const APIKEYS = '/api/v1/apikeys';

/** A whole number in [min, max] for a flag; anything else is a usage error (exit 2). */
export function intInRange(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
      throw new InvalidArgumentError(`Give a whole number from ${min} to ${max}.`);
    return Number(value);
  };
}

export function registerApiKeyCommands(program: Command, ctx: CliContext): void {
  const apikey = program.command('apikey').description('API keys for automation (scoped, expiring, hashed at rest)');

  apikey
    .command('create')
    .argument('<name>', 'a name for the key')
    .description('creates an API key for yourself; the token is printed once. Use it as SIGHTLINE_TOKEN')
    .option('--expires-in-days <N>', 'lifetime in days (server default 90)', intInRange(1, 730))
    .option('--policy-file <FILE>', 'a policy document that narrows what the key may do (within your own rights)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  sightline apikey create ci --expires-in-days 30 --policy-file ci-policy.json --json')
    .action(async (name: string, opts: JsonOption & { expiresInDays?: number; policyFile?: string }) => {
      const body = {
        name,
        ...(opts.expiresInDays === undefined ? {} : { expiresInDays: opts.expiresInDays }),
        ...(opts.policyFile === undefined ? {} : { policy: readJsonFile(opts.policyFile, 'the key policy') }),
      };
      const res = await ctx.client().request('POST', APIKEYS, { body, schema: api.createApiKeyResponse });
      if (opts.json === true) return printJson(res);
      printLine(`Created API key ${res.key.name} (id ${res.key.id}), expires ${res.key.expiresAt}.`);
      printLine(`Token: ${res.token}`);
      printLine('Shown only this once (the server keeps only a hash); store it in your secret manager. Use it as SIGHTLINE_TOKEN.');
    });

  apikey
    .command('list')
    .description('lists API keys (never their tokens)')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const res = await ctx.client().request('GET', APIKEYS, { schema: z.object({ apiKeys: z.array(api.apiKeyView) }) });
      if (opts.json === true) return printJson(res);
      printTable(res.apiKeys, ['id', 'name', 'owner', 'status', 'expiresAt', 'lastUsedAt']);
    });

  apikey
    .command('revoke')
    .argument('<id>', 'the key id (from "apikey list")')
    .description('revokes an API key at once')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, opts: JsonOption) => {
      const key = await ctx.client().request('DELETE', `${APIKEYS}/${seg(id)}`, { schema: api.apiKeyView });
      if (opts.json === true) return printJson(key);
      printLine(`Revoked API key ${key.name} (id ${key.id}).`);
    });
}

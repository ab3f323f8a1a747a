import { InvalidArgumentError, type Command } from 'commander';
import { logViews } from '@sightline/protocol';
import type { ApiClient } from '../client/api-client.js';
import { CliError, EXIT } from '../errors.js';
import { seg, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { notice, printFields, printJson, printLine, printable, printTable } from '../output/print.js';
import { intInRange } from './apikey.js';

const { groupView, streamList: streamsResponse, eventPage: eventsResponse } = logViews;
type GroupView = logViews.GroupView;
type LogEvent = logViews.LogEvent;

const groupsPath = (project: string): string => `/api/v1/projects/${seg(project)}/log-groups`;
const groupPath = (project: string, name: string): string => `${groupsPath(project)}/${seg(name)}`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const keyLabel = (g: GroupView): string => (g.kmsKey.managedBy === 'service' ? 'service logs key' : (g.kmsKey.name ?? g.kmsKey.id));

/** How long a follow waits on the server for new events per call (the server allows up to 30 s). */
const FOLLOW_WAIT_SECONDS = 20;
/** Events asked for per page; a page is held in memory whole. */
const PAGE_EVENTS = 500;
/** A page of long lines can be large: 500 events of up to 64 KiB each, JSON-escaped. */
const MAX_PAGE_BYTES = 64 * 1024 * 1024;
const DEFAULT_TAIL_SINCE_MS = 10 * 60_000;

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time for --since/--until: a duration ago (`30s`, `10m`, `1h`,
 * `2d`, `1w`) or an ISO 8601 date or time (`2026-03-01`, `2026-03-01T12:00:00Z`).
 */
export function parseTime(value: string, now: number = Date.now()): number {
  const rel = /^(\d{1,9})([smhdw])$/.exec(value);
  if (rel !== null) return now - Number(rel[1]) * (UNIT_MS[rel[2] ?? 's'] ?? 1000);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  }
  throw new InvalidArgumentError(
    `Give a duration ago (30s, 10m, 1h, 2d, 1w) or an ISO 8601 time (2026-03-01T12:00:00Z); got ${JSON.stringify(value)}.`,
  );
}

const timeArg = (value: string): number => parseTime(value);

function printEvent(e: LogEvent, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(e)}\n`);
    return;
  }
  const level = e.level === undefined ? '' : ` ${e.level.toUpperCase()}`;
  const fields = e.fields === undefined || Object.keys(e.fields).length === 0 ? '' : ` ${JSON.stringify(e.fields)}`;
  // Log lines come from devices and apps: control characters are shown escaped, never sent to the terminal.
  printLine(printable(`${e.time} ${e.stream}${level} ${e.message}${fields}`));
}

interface ReadFilter {
  stream?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  grep?: string | undefined;
}

function eventsQuery(filter: ReadFilter, limit: number, after: string | undefined, wait: number): string {
  const q = new URLSearchParams();
  if (filter.stream !== undefined) q.set('stream', filter.stream);
  if (filter.since !== undefined) q.set('since', new Date(filter.since).toISOString());
  if (filter.until !== undefined) q.set('until', new Date(filter.until).toISOString());
  if (filter.grep !== undefined) q.set('grep', filter.grep);
  q.set('limit', String(limit));
  if (after !== undefined) q.set('after', after);
  if (wait > 0) q.set('wait', String(wait));
  return q.toString();
}

/**
 * Reads pages until caught up (a page that moves the cursor no further) or
 * `max` events were handed to `each`. Returns the cursor to continue from
 * and whether `max` was reached.
 */
async function readPages(
  client: ApiClient,
  path: string,
  filter: ReadFilter,
  max: number,
  each: (e: LogEvent) => void,
  signal?: AbortSignal,
): Promise<{ nextToken: string | undefined; limitReached: boolean }> {
  let after: string | undefined;
  let seen = 0;
  for (;;) {
    const limit = Math.min(PAGE_EVENTS, max - seen);
    const page = await client.request('GET', `${path}?${eventsQuery(filter, limit, after, 0)}`, {
      schema: eventsResponse,
      ...(signal === undefined ? {} : { signal }),
    });
    for (const e of page.events) each(e);
    seen += page.events.length;
    if (seen >= max) return { nextToken: page.nextToken, limitReached: true };
    if (page.events.length === 0 && page.nextToken === after) return { nextToken: after, limitReached: false };
    after = page.nextToken;
  }
}

function groupOptions(cmd: Command): Command {
  return cmd
    .option('--retention-days <N>', 'how long events are kept, 1 to 3650 days (server default 30)', intInRange(1, 3650))
    .option('--description <TEXT>', 'what the group holds')
    .option('--json', 'print the result as JSON');
}

function printGroup(g: GroupView): void {
  printFields([
    ['name', g.name],
    ['project', g.project],
    ['description', g.description],
    ['key', `${keyLabel(g)} (id ${g.kmsKey.id})`],
    ['retention', `${g.retentionDays} days`],
    ['created', g.createdAt],
    ['updated', g.updatedAt],
  ]);
}

const TAIL_HELP = `
Prints the events stored since --since (default 10m ago), oldest batch first.
With --follow it then waits for new events and prints them as they arrive,
until Ctrl-C, which ends it with exit code 0. --json prints one JSON object
per line (time, stream, message, level, fields).

--since takes a duration ago (30s, 10m, 1h, 2d, 1w) or an ISO 8601 time.

Examples:
  sightline logs tail device-cam-01 --follow
  sightline logs tail app --stream worker-1 --since 2026-03-01T08:00:00Z --json`;

const QUERY_HELP = `
Pages through the group (oldest batch first) and prints matching events, up
to --limit. --grep matches a plain substring of the message (case-sensitive).
--json prints {"events": [...], "limitReached": true|false}.

Examples:
  sightline logs query app --since 1h --grep timeout
  sightline logs query app --since 2026-03-01 --until 2026-03-02 --stream worker-1 --limit 5000 --json`;

export function registerLogsCommands(program: Command, ctx: CliContext): void {
  const logs = program
    .command('logs')
    .description('the log store: groups and streams, encrypted at rest (service logs key or a customer key), retention per group');

  withProject(logs.command('groups').description("lists a project's log groups with their key and retention"))
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption) => {
      const res = await ctx.client().request('GET', groupsPath(opts.project), { schema: logViews.groupList });
      if (opts.json === true) return printJson(res);
      printTable(
        res.groups.map((g) => ({ ...g, key: keyLabel(g), retention: `${g.retentionDays}d` })),
        ['name', 'retention', 'key', 'description'],
      );
    });

  groupOptions(
    withProject(
      logs
        .command('create-group')
        .argument('<name>', 'log group name')
        .description('creates a log group, encrypted under the service logs key or a customer-managed key'),
    ),
  )
    .option('--kms-key <KEY>', 'a customer-managed key of the project (you need key:Use on it); default the service logs key')
    .addHelpText('after', '\nExample:\n  sightline logs create-group app --retention-days 90 --kms-key app-logs')
    .action(async (name: string, opts: JsonOption & ProjectOption & { kmsKey?: string; retentionDays?: number; description?: string }) => {
      const g = await ctx.client().request('POST', groupsPath(opts.project), {
        body: {
          name,
          ...(opts.description === undefined ? {} : { description: opts.description }),
          ...(opts.kmsKey === undefined ? {} : { kmsKey: opts.kmsKey }),
          ...(opts.retentionDays === undefined ? {} : { retentionDays: opts.retentionDays }),
        },
        schema: groupView,
      });
      if (opts.json === true) return printJson(g);
      printLine(`Created log group ${g.name}${inProject(g.project)} (${keyLabel(g)}, retention ${g.retentionDays} days).`);
    });

  groupOptions(
    withProject(
      logs
        .command('update-group')
        .argument('<name>', 'log group name')
        .description('changes a log group: retention, description, or key (a new key applies to new events only)'),
    ),
  )
    .option('--kms-key <KEY>', 'encrypt new events under this customer-managed key')
    .option('--service-key', 'encrypt new events under the service logs key again')
    .addHelpText('after', '\nExample:\n  sightline logs update-group app --retention-days 7')
    .action(
      async (
        name: string,
        opts: JsonOption & ProjectOption & { kmsKey?: string; serviceKey?: boolean; retentionDays?: number; description?: string },
      ) => {
        if (opts.kmsKey !== undefined && opts.serviceKey === true)
          throw new CliError('USAGE', 'Give either --kms-key KEY or --service-key, not both.', EXIT.USAGE);
        const body = {
          ...(opts.description === undefined ? {} : { description: opts.description }),
          ...(opts.kmsKey === undefined ? {} : { kmsKey: opts.kmsKey }),
          ...(opts.serviceKey === true ? { kmsKey: null } : {}),
          ...(opts.retentionDays === undefined ? {} : { retentionDays: opts.retentionDays }),
        };
        if (Object.keys(body).length === 0)
          throw new CliError('USAGE', 'Nothing to change: give --retention-days, --description, --kms-key or --service-key.', EXIT.USAGE);
        const g = await ctx.client().request('PATCH', groupPath(opts.project, name), { body, schema: groupView });
        if (opts.json === true) return printJson(g);
        printLine(`Updated log group ${g.name}${inProject(g.project)}:`);
        printGroup(g);
      },
    );

  withProject(logs.command('streams').argument('<group>', 'log group name').description('lists the streams of a log group'))
    .option('--json', 'print JSON')
    .action(async (group: string, opts: JsonOption & ProjectOption) => {
      const res = await ctx.client().request('GET', `${groupPath(opts.project, group)}/streams`, { schema: streamsResponse });
      if (opts.json === true) return printJson(res);
      if (res.streams.length === 0) return printLine(`Log group ${group} has no streams yet.`);
      printTable(
        res.streams.map((s) => ({ ...s, lastEvent: s.lastEventTime, created: s.createdAt })),
        ['name', 'lastEvent', 'chunks', 'created'],
      );
    });

  withProject(
    logs
      .command('tail')
      .argument('<group>', 'log group name')
      .description('prints recent events of a log group; --follow keeps printing new ones'),
  )
    .option('--stream <NAME>', 'only this stream')
    .option('--since <WHEN>', 'from this time: a duration ago (10m, 1h, 2d) or ISO 8601 (default 10m)', timeArg)
    .option('--follow', 'keep waiting for new events and print them as they arrive, until Ctrl-C')
    .option('--json', 'print one JSON object per event, one per line')
    .addHelpText('after', TAIL_HELP)
    .action(async (group: string, opts: JsonOption & ProjectOption & { stream?: string; since?: number; follow?: boolean }) => {
      const client = ctx.client({ maxResponseBytes: MAX_PAGE_BYTES });
      const path = `${groupPath(opts.project, group)}/events`;
      const filter: ReadFilter = { stream: opts.stream, since: opts.since ?? Date.now() - DEFAULT_TAIL_SINCE_MS };
      const print = (e: LogEvent): void => printEvent(e, opts.json === true);
      if (opts.follow !== true) {
        await readPages(client, path, filter, Number.POSITIVE_INFINITY, print);
        return;
      }
      await withInterrupt(async (signal) => {
        try {
          let { nextToken } = await readPages(client, path, filter, Number.POSITIVE_INFINITY, print, signal);
          // From here on every new batch is shown, even one that arrives late with older times.
          const live: ReadFilter = { stream: opts.stream };
          for (;;) {
            const page = await client.request('GET', `${path}?${eventsQuery(live, PAGE_EVENTS, nextToken, FOLLOW_WAIT_SECONDS)}`, {
              schema: eventsResponse,
              signal,
              timeoutMs: (FOLLOW_WAIT_SECONDS + 30) * 1000,
            });
            for (const e of page.events) print(e);
            nextToken = page.nextToken;
          }
        } catch (err) {
          // Ctrl-C is how a follow ends: not an error.
          if (signal.aborted && err instanceof CliError && err.code === 'CANCELLED') return;
          throw err;
        }
      });
    });

  withProject(
    logs
      .command('query')
      .argument('<group>', 'log group name')
      .description('searches a log group in a time range, optionally for a substring, page by page'),
  )
    .requiredOption('--since <WHEN>', 'from this time: a duration ago (1h, 2d) or ISO 8601', timeArg)
    .option('--until <WHEN>', 'up to this time: a duration ago or ISO 8601 (default now)', timeArg)
    .option('--grep <TEXT>', 'only events whose message contains TEXT')
    .option('--stream <NAME>', 'only this stream')
    .option('--limit <N>', 'at most N events, 1 to 100000', intInRange(1, 100_000), 1000)
    .option('--json', 'print {events, limitReached} as JSON')
    .addHelpText('after', QUERY_HELP)
    .action(
      async (
        group: string,
        opts: JsonOption & ProjectOption & { since: number; until?: number; grep?: string; stream?: string; limit: number },
      ) => {
        if (opts.until !== undefined && opts.until < opts.since) throw new CliError('USAGE', '--until is before --since.', EXIT.USAGE);
        const client = ctx.client({ maxResponseBytes: MAX_PAGE_BYTES });
        const events: LogEvent[] = [];
        const json = opts.json === true;
        const { limitReached } = await readPages(
          client,
          `${groupPath(opts.project, group)}/events`,
          { stream: opts.stream, since: opts.since, until: opts.until, grep: opts.grep },
          opts.limit,
          json ? (e) => events.push(e) : (e) => printEvent(e, false),
        );
        if (json) return printJson({ events, limitReached });
        if (limitReached) notice(`Stopped at --limit ${opts.limit} events; narrow the time range or raise --limit to see more.`);
      },
    );
}

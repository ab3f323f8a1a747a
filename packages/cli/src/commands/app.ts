import type { Command } from 'commander';
import { z } from 'zod';
import { appManifestApi } from '@sightline/protocol';
import type { ApiClient } from '../client/api-client.js';
import { ApiError, CliError, EXIT, type ExitCode } from '../errors.js';
import { readTextFile } from '../files.js';
import { seg, shellQuote, withProject, type CliContext, type JsonOption, type ProjectOption } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { notice, printFields, printJson, printLine, printable, printTable } from '../output/print.js';
import { Progress } from '../output/progress.js';
import { confirmAction } from '../prompt/prompt.js';
import { progressOption, type ProgressOption } from './artifact.js';

/**
 * A deployment that ended `failed`, `rolled-back` or `stopped`. Scripts rely
 * on it as on the codes in errors.ts (where it belongs: DEPLOY_FAILED).
 */
export const EXIT_DEPLOY_FAILED: ExitCode = EXIT.DEPLOY_FAILED;

const historyEntry = z.object({ stage: z.string(), at: z.string(), message: z.string().nullish() });
const appView = z.object({
  instanceId: z.string(),
  app: z.string(),
  device: z.string(),
  revision: z.number(),
  stage: z.string(),
  stageStartedAt: z.string(),
  updatedAt: z.string(),
  bytesDone: z.number().nullish(),
  bytesTotal: z.number().nullish(),
  code: z.string().nullish(),
  message: z.string().nullish(),
  history: z.array(historyEntry),
  cameras: z.array(
    z.object({
      node: z.string(),
      camera: z.string(),
      paused: z.boolean(),
      state: z.string().nullish(),
      fps: z.number().nullish(),
      lastError: z.string().nullish(),
    }),
  ),
  nodes: z.array(
    z.object({
      node: z.string(),
      type: z.string(),
      package: z.string(),
      version: z.string(),
      state: z.string().nullish(),
      restarts: z.number().nullish(),
      lastExit: z.string().nullish(),
      metrics: z.record(z.string(), z.number()).nullish(),
    }),
  ),
  /** Per code node: parameter → value. */
  parameters: z.record(z.string(), z.record(z.string(), z.unknown())),
  manifestSha256: z.string(),
  replaces: z.string().nullish(),
  createdBy: z.string(),
});
type AppView = z.infer<typeof appView>;
const appResponse = z.object({ app: appView });
const listResponse = z.object({ apps: z.array(appView) });

/** Stages after which nothing more happens to a deployment. */
const FINAL = new Set(['running', 'failed', 'rolled-back', 'stopped']);
/** The server holds a long poll up to 30 s; the CLI asks for 25 and waits a little longer than that for the answer. */
const WAIT_SECONDS = 25;
const POLL_TIMEOUT_MS = 40_000;
const MAX_MANIFEST_FILE_BYTES = appManifestApi.MAX_MANIFEST_BYTES;

const appsPath = (project: string): string => `/api/v1/projects/${seg(project)}/apps`;
const appPath = (project: string, instance: string): string => `${appsPath(project)}/${seg(instance)}`;
const inProject = (project: string): string => (project === 'default' ? '' : ` in project ${project}`);
const projectFlag = (project: string): string => (project === 'default' ? '' : ` --project ${shellQuote(project)}`);

function readJson(file: string, what: string): unknown {
  const text = readTextFile(file, what, MAX_MANIFEST_FILE_BYTES);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError('FILE_INVALID', `${file} (${what}) is not valid JSON.`, EXIT.INVALID, { cause: err });
  }
}

/** A manifest or overrides fault, with the path that names it, exit 7 (as the server's 400 MANIFEST_INVALID). */
function manifestFault(err: unknown, file: string): unknown {
  if (err instanceof appManifestApi.ManifestInvalidError)
    return new CliError('MANIFEST_INVALID', `${file}: ${err.message}`, EXIT.INVALID, { cause: err, details: { path: err.path } });
  if (err instanceof ApiError && err.code === 'MANIFEST_INVALID') {
    const path = typeof err.details?.['path'] === 'string' ? err.details['path'] : undefined;
    const message = path === undefined || err.message.includes(path) ? err.message : `${path}: ${err.message}`;
    return new CliError('MANIFEST_INVALID', message, EXIT.INVALID, { cause: err, ...(path === undefined ? {} : { details: { path } }) });
  }
  return err;
}

/** The stage a failed deployment was in: the last one in its history before it failed. */
function failedStage(v: AppView): string {
  const before = v.history.filter((h) => !FINAL.has(h.stage) || h.stage === 'running');
  return before.at(-1)?.stage ?? 'queued';
}

function reason(v: AppView): string {
  const parts = [v.code, v.message].filter((p): p is string => typeof p === 'string' && p !== '');
  return parts.length === 0 ? 'no reason given' : parts.join(': ');
}

/** Ends a followed deployment: running is success; failed, rolled back or stopped is an error with exit 11. */
function outcome(v: AppView): void {
  if (v.stage === 'running') return;
  const where = `app ${v.app} on device ${v.device} (instance ${v.instanceId})`;
  if (v.stage === 'rolled-back') {
    throw new CliError(
      'DEPLOY_ROLLED_BACK',
      `The deployment of ${where} failed at stage ${failedStage(v)} (${reason(v)}) and was rolled back` +
        // The server's message may say so already.
        (v.replaces === undefined || v.replaces === null || reason(v).includes(v.replaces)
          ? '.'
          : `: instance ${v.replaces} keeps running.`),
      EXIT_DEPLOY_FAILED,
      { details: { stage: failedStage(v), ...(v.code === undefined || v.code === null ? {} : { code: v.code }) } },
    );
  }
  if (v.stage === 'stopped')
    throw new CliError('DEPLOY_STOPPED', `The deployment of ${where} was stopped (removed) before it ran.`, EXIT_DEPLOY_FAILED);
  throw new CliError('DEPLOY_FAILED', `The deployment of ${where} failed at stage ${failedStage(v)}: ${reason(v)}.`, EXIT_DEPLOY_FAILED, {
    details: { stage: failedStage(v), ...(v.code === undefined || v.code === null ? {} : { code: v.code }) },
  });
}

/**
 * Shows a deployment's stages as they happen (long-polling the instance),
 * with a progress bar while the device downloads, until it runs, fails or is
 * rolled back. Stage lines go to stdout, or to stderr with --json.
 */
async function follow(
  client: ApiClient,
  project: string,
  first: AppView,
  opts: ProgressOption & JsonOption,
  signal: AbortSignal,
): Promise<AppView> {
  const say = opts.json === true ? notice : printLine;
  let shown = 0;
  let lastStage: string | undefined;
  let bar: { progress: Progress; total: number } | undefined;
  const endBar = (v: AppView): void => {
    if (bar === undefined) return;
    if (v.stage !== 'downloading' && v.stage !== 'failed' && v.stage !== 'rolled-back') bar.progress.done();
    else bar.progress.fail();
    bar = undefined;
  };
  const show = (v: AppView): void => {
    const fresh = v.history.slice(shown);
    shown = v.history.length;
    if (fresh.length > 0 || v.stage !== lastStage) endBar(v);
    for (const h of fresh)
      say(printable(`${h.at}  ${h.stage.padEnd(11)}${h.message === undefined || h.message === null ? '' : `  ${h.message}`}`));
    if (fresh.length === 0 && v.stage !== lastStage) say(printable(`${v.updatedAt}  ${v.stage}`));
    lastStage = v.stage;
    if (v.stage === 'downloading' && typeof v.bytesTotal === 'number' && v.bytesTotal > 0) {
      if (bar !== undefined && bar.total !== v.bytesTotal) endBar(v);
      bar ??= { progress: new Progress('downloading', v.bytesTotal, { mode: opts.progress }), total: v.bytesTotal };
      bar.progress.update(v.bytesDone ?? 0);
    }
  };
  let v = first;
  show(v);
  while (!FINAL.has(v.stage)) {
    const q = new URLSearchParams({ wait: String(WAIT_SECONDS), since: v.updatedAt });
    ({ app: v } = await client.request('GET', `${appPath(project, v.instanceId)}?${q.toString()}`, {
      schema: appResponse,
      signal,
      timeoutMs: POLL_TIMEOUT_MS,
    }));
    show(v);
  }
  endBar(v);
  return v;
}

/** {@link follow} until Ctrl-C, which stops the watching, not the deployment. */
async function followed(client: ApiClient, project: string, first: AppView, opts: ProgressOption & JsonOption): Promise<AppView> {
  try {
    return await withInterrupt((signal) => follow(client, project, first, opts, signal));
  } catch (err) {
    if (err instanceof CliError && err.code === 'CANCELLED') {
      throw new CliError(
        'CANCELLED',
        `Stopped following (Ctrl-C); the deployment goes on. Watch it again with "sightline app describe ${first.instanceId} --follow${projectFlag(project)}".`,
        EXIT.CANCELLED,
      );
    }
    throw err;
  }
}

interface DeployOptions extends JsonOption, ProjectOption, ProgressOption {
  device: string;
  override?: string;
  replace?: string;
  wait: boolean;
}

async function deploy(ctx: CliContext, file: string, opts: DeployOptions): Promise<void> {
  const manifest = readJson(file, 'the app manifest');
  const overrides = opts.override === undefined ? undefined : readJson(opts.override, 'the overrides');
  // The shape is checked here, before anything is sent; the server checks it again against the packages.
  try {
    appManifestApi.parseManifest(manifest);
  } catch (err) {
    throw manifestFault(err, file);
  }
  if (opts.override !== undefined) {
    try {
      appManifestApi.parseOverrides(overrides);
    } catch (err) {
      throw manifestFault(err, opts.override);
    }
  }
  const client = ctx.client();
  let v: AppView;
  try {
    ({ app: v } = await client.request('POST', appsPath(opts.project), {
      body: {
        manifest,
        device: opts.device,
        ...(overrides === undefined ? {} : { overrides }),
        ...(opts.replace === undefined ? {} : { replace: opts.replace }),
      },
      schema: appResponse,
    }));
  } catch (err) {
    throw manifestFault(err, file);
  }
  if (!opts.wait) {
    if (opts.json === true) return printJson(v);
    printLine(
      `Deploying app ${v.app} to device ${v.device}${inProject(opts.project)}: instance ${v.instanceId}, revision ${v.revision}, ${v.stage}.`,
    );
    printLine(`Follow it with "sightline app describe ${v.instanceId} --follow${projectFlag(opts.project)}".`);
    return;
  }
  if (opts.json !== true)
    printLine(`Deploying app ${v.app} to device ${v.device}${inProject(opts.project)}: instance ${v.instanceId}, revision ${v.revision}.`);
  const final = await followed(client, opts.project, v, opts);
  if (opts.json === true) printJson(final);
  outcome(final);
  if (opts.json !== true)
    printLine(`App ${final.app} is running on device ${final.device}: instance ${final.instanceId}, revision ${final.revision}.`);
}

const present = <T>(x: T | null | undefined): x is T => x !== undefined && x !== null;

function describeApp(v: AppView): void {
  const downloading = v.stage === 'downloading' && present(v.bytesTotal);
  printFields([
    ['instance', v.instanceId],
    ['app', v.app],
    ['device', v.device],
    ['revision', v.revision],
    ['stage', `${v.stage} since ${v.stageStartedAt}`],
    ...(downloading ? [['downloaded', `${v.bytesDone ?? 0} of ${v.bytesTotal ?? 0} bytes`] as const] : []),
    ...(present(v.code) ? [['code', v.code] as const] : []),
    ...(present(v.message) ? [['message', v.message] as const] : []),
    ['manifest sha256', v.manifestSha256],
    ['replaces', v.replaces ?? null],
    [
      'parameters',
      Object.entries(v.parameters).flatMap(([node, values]) => Object.entries(values).map(([k, x]) => `${node}.${k}=${JSON.stringify(x)}`)),
    ],
    ['created by', v.createdBy],
    ['updated', v.updatedAt],
  ]);
  printLine();
  printTable(
    v.cameras.map((c) => ({
      camera: c.camera,
      node: c.node,
      paused: c.paused,
      state: c.state,
      fps: c.fps,
      last_error: c.lastError,
    })),
    ['camera', 'node', 'paused', 'state', 'fps', 'last_error'],
  );
  printLine();
  printTable(
    v.nodes.map((n) => ({
      node: n.node,
      type: n.type,
      package: `${n.package} ${n.version}`,
      state: n.state,
      restarts: n.restarts,
      metrics: present(n.metrics) ? Object.entries(n.metrics).map(([k, x]) => `${k}=${x}`) : null,
      last_exit: n.lastExit,
    })),
    ['node', 'type', 'package', 'state', 'restarts', 'metrics', 'last_exit'],
  );
  printLine();
  printTable(
    v.history.map((h) => ({ at: h.at, stage: h.stage, message: h.message ?? '' })),
    ['at', 'stage', 'message'],
  );
}

const DEPLOY_HELP = `
MANIFEST is an app manifest (JSON: nodes and edges; its JSON Schema is served
at /api/v1/schemas/app-manifest.json). --override FILE holds the deploy-time
choices: {"cameras": {"camera": "front-door"}, "parameters": {"threshold": 0.5}}.
A fault in either is refused with its path (nodes[1].package, edges[2].to),
exit 7, and nothing is deployed.

The command then follows the deployment: queued, downloading (a progress bar
of the bytes the device fetched), verifying, starting, running. It exits 0
when the app runs, and 11 when the deployment failed (the stage and the
reason are printed), was rolled back (--replace: the old instance keeps
running) or was removed. --no-wait returns once the deployment is queued.

Examples:
  sightline app deploy examples/privacy-blur/app-manifest.json --device cam-box-1 --override door.json
  sightline app deploy app.json --device cam-box-1 --replace 01HX… --progress plain`;

export function registerAppCommands(program: Command, ctx: CliContext): void {
  const app = program
    .command('app')
    .description('apps on devices: deploy a manifest with live progress, list, describe, remove, pause and resume cameras');

  withProject(
    app
      .command('deploy')
      .argument('<manifest>', 'the app manifest (JSON)')
      .requiredOption('--device <NAME>', 'the device to deploy to')
      .description('deploys an app to a device and shows each stage until it runs or fails'),
  )
    .option('--override <FILE>', 'deploy-time overrides (JSON: cameras, parameters)')
    .option('--replace <INSTANCE>', 'replace this instance; if the new one fails, the old one keeps running')
    .option('--no-wait', 'return once the deployment is queued')
    .addOption(progressOption())
    .option('--json', 'print the instance as JSON (stage lines go to stderr)')
    .addHelpText('after', DEPLOY_HELP)
    .action((file: string, opts: DeployOptions) => deploy(ctx, file, opts));

  withProject(app.command('ls').alias('list').description('lists app instances'))
    .option('--device <NAME>', 'only this device’s')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & ProjectOption & { device?: string }) => {
      const q = opts.device === undefined ? '' : `?${new URLSearchParams({ device: opts.device }).toString()}`;
      const { apps } = await ctx.client().request('GET', `${appsPath(opts.project)}${q}`, { schema: listResponse });
      if (opts.json === true) return printJson({ apps });
      if (apps.length === 0)
        return printLine(`No apps${opts.device === undefined ? '' : ` on device ${opts.device}`}${inProject(opts.project)}.`);
      printTable(
        apps.map((a) => ({
          instance: a.instanceId,
          app: a.app,
          device: a.device,
          stage: a.stage,
          revision: a.revision,
          updated: a.updatedAt,
        })),
        ['instance', 'app', 'device', 'stage', 'revision', 'updated'],
      );
    });

  withProject(
    app
      .command('describe')
      .argument('<instance>', 'instance id')
      .description('shows an instance: stage, history, cameras, nodes, parameters'),
  )
    .option('--follow', 'follow its deployment until it runs or fails (as deploy does)')
    .addOption(progressOption())
    .option('--json', 'print JSON')
    .action(async (instance: string, opts: JsonOption & ProjectOption & ProgressOption & { follow?: boolean }) => {
      const client = ctx.client();
      const { app: v } = await client.request('GET', appPath(opts.project, instance), { schema: appResponse });
      if (opts.follow === true) {
        const final = await followed(client, opts.project, v, opts);
        if (opts.json === true) printJson(final);
        return outcome(final);
      }
      if (opts.json === true) return printJson(v);
      describeApp(v);
    });

  withProject(
    app
      .command('rm')
      .alias('remove')
      .argument('<instance>', 'instance id')
      .description('removes an instance: the device stops it and deletes its files'),
  )
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .option('--json', 'print the result as JSON')
    .action(async (instance: string, opts: JsonOption & ProjectOption & { yes?: boolean }) => {
      await confirmAction({
        yes: opts.yes,
        what: `Remove app instance ${instance}${inProject(opts.project)}: the device stops it and deletes its files.`,
      });
      await ctx.client().request('DELETE', appPath(opts.project, instance));
      if (opts.json === true) return printJson({ removed: instance, project: opts.project });
      printLine(`Removed app instance ${instance}${inProject(opts.project)}.`);
    });

  for (const [verb, description] of [
    ['pause', 'stops feeding one camera to an instance (the camera itself keeps running)'],
    ['resume', 'feeds a paused camera to the instance again'],
  ] as const) {
    withProject(
      app.command(verb).argument('<instance>', 'instance id').requiredOption('--camera <NAME>', 'the camera').description(description),
    )
      .option('--json', 'print the instance as JSON')
      .action(async (instance: string, opts: JsonOption & ProjectOption & { camera: string }) => {
        const { app: v } = await ctx.client().request('POST', `${appPath(opts.project, instance)}/${verb}`, {
          body: { camera: opts.camera },
          schema: appResponse,
        });
        if (opts.json === true) return printJson(v);
        printLine(
          `Camera ${opts.camera} ${verb === 'pause' ? 'paused' : 'resumed'} for instance ${v.instanceId} (app ${v.app} on ${v.device}, revision ${v.revision}).`,
        );
      });
  }
}

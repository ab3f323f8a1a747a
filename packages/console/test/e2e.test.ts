// The console end to end in a real browser (Debian's chromium through
// playwright-core) against a real control plane and a real agent process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startCameraSimulator, type CameraSimulator } from '../../agent/src/camera/index.js';
import { runCliMany } from '../../cli/test/cli-process.js';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { ensureConsoleBuilt } from '../scripts/ensure-built.js';
import { until as waitUntil } from '../../agent/test/helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../..', import.meta.url));
const agentBin = join(root, 'packages/agent/src/cli/main.ts');
/**
 * Where the screenshots go: the README's docs/screenshots with SIGHTLINE_SCREENSHOTS=1 (to refresh them),
 * else a scratch folder, so that a test run leaves the checkout as it found it.
 */
const screenshots =
  process.env['SIGHTLINE_SCREENSHOTS'] === '1' ? join(root, 'docs/screenshots') : join(tmpdir(), 'sightline-console-screenshots');
/** The demo's clip (faces panning past): the camera simulator loops it. */
const CLIP = join(root, 'packages/agent/test/fixtures/video/pan-messi.mp4');
const CAMERA_PASSWORD = 'Door-cam-pass-77';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (scripts/install-test-deps.sh does) to run the console in a real browser`;

/** How long the browser waits for the fleet to change (agent start, heartbeats, log shipping); not a speed check. */
const SLOW = 90_000;
/** How long the real agent may take from the deploy to a running app (download, verify, sandbox, model runner) on a busy CI machine. */
const APP_START = 240_000;

/** An app instance as the API shows it (the fields this test reads). */
interface AppBody {
  instanceId: string;
  stage: string;
  bytesDone?: number;
  bytesTotal?: number;
  nodes: { node: string; metrics?: Record<string, number> }[];
}

/**
 * Records every text of the deploy page's progress line in `window.__stages`
 * (a string: this file is type-checked without the DOM library).
 */
const STAGE_RECORDER = `(() => {
  const seen = (window.__stages = []);
  const take = () => {
    const t = document.querySelector('p[data-stage]')?.textContent ?? '';
    if (t !== '' && seen[seen.length - 1] !== t) seen.push(t);
  };
  new MutationObserver(take).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
})()`;

const until = <T>(what: string, fn: () => Promise<T | undefined>, ms = SLOW): Promise<T> => waitUntil(what, fn, ms);

function runAgent(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', agentBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  // The test CA is not in the browser's store; everything else about TLS is real.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  return { context, page: await context.newPage() };
}

async function signIn(page: Page, user: string, password: string, code?: string): Promise<void> {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  if (code !== undefined) await page.getByLabel('Authenticator code').fill(code);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test(
  'console end to end: TOTP sign-in, provision through the wizard, a real agent comes online, its log tail, deploy the example app with an override to running on that agent with a simulated RTSP camera, preview its real output once an Admin allows it, ReadOnly enrols TOTP and is denied a reboot and the preview, session expiry keeps the page',
  { timeout: 600_000, skip },
  async () => {
    await ensureConsoleBuilt({ quiet: true });
    mkdirSync(screenshots, { recursive: true });
    const s: TestServer = await startTestServer();
    const work = mkdtempSync(join(tmpdir(), 'sightline-console-e2e-'));
    // As /var/lib is for an installed agent: the apps' own uids pass through to their folders (0711, no listing).
    chmodSync(work, 0o711);
    let browser: Browser | undefined;
    let agent: ChildProcess | undefined;
    let camera: CameraSimulator | undefined;
    let agentOut = '';
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--disable-quic',
        ],
      });
      const { page } = await newPage(browser);
      const cspViolations: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
      });

      // A deep link while signed out: the sign-in page, then back to that page.
      await page.goto(`${s.url}/console/devices/not-yet`);
      await page.getByRole('heading', { name: 'Sign in to Sightline' }).waitFor();
      assert.match(page.url(), /\/console\/login\?next=%2Fconsole%2Fdevices%2Fnot-yet/);
      // Wrong code: the API's code and sentence are shown.
      await signIn(page, s.init.admin.name, s.init.admin.password, '000000');
      await page.getByRole('alert').filter({ hasText: 'LOGIN_FAILED' }).waitFor();
      await page.getByLabel('Authenticator code').fill(s.code(s.init.admin.totpSecret));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Device not-yet' }).waitFor();
      await page.getByRole('alert').filter({ hasText: 'DEVICE_NOT_FOUND' }).first().waitFor();
      // The session is in the HttpOnly cookie only: nothing in storage, nothing a script can read.
      // (Expressions as strings: this file is type-checked without the DOM library.)
      const storage = await page.evaluate('({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie })');
      assert.deepEqual(storage, { local: 0, session: 0, cookie: '' });

      // Provisioning wizard: name, network, then the archive once and the passphrase once.
      await page.getByRole('link', { name: 'Provision', exact: true }).click();
      await page.getByLabel('Device name').fill('lobby-box');
      await page.getByRole('button', { name: 'Next: network' }).click();
      await page.getByLabel('DHCP').check();
      await page.getByRole('button', { name: 'Provision' }).click();
      await page.getByRole('heading', { name: 'Device lobby-box provisioned' }).waitFor();
      await page.getByText('Neither the archive nor the passphrase can be shown again').waitFor();
      const passphrase = ((await page.locator('#passphrase').textContent()) ?? '').trim();
      assert.ok(passphrase.length >= 20, 'a passphrase is shown');
      const archive = join(work, 'lobby-box.sightline-archive.age');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('link', { name: /Download the archive/ }).click(),
      ]);
      await download.saveAs(archive);
      await page.getByText('Archive downloaded').waitFor();
      assert.equal(await page.getByRole('link', { name: /Download the archive/ }).count(), 0, 'the archive can be downloaded once');

      // A real agent registers with the archive and the passphrase, then runs.
      writeFileSync(join(work, 'passphrase'), `${passphrase}\n`, { mode: 0o600 });
      const dataDir = join(work, 'agent');
      const reg = await runAgent([
        'register',
        '--archive',
        archive,
        '--data-dir',
        dataDir,
        '--passphrase-file',
        join(work, 'passphrase'),
        '--root-key',
        'key-file',
      ]);
      assert.equal(reg.code, 0, reg.out);
      agent = spawn(process.execPath, ['--import', 'tsx', agentBin, 'start', '--data-dir', dataDir], {
        env: {
          ...process.env,
          SIGHTLINE_AGENT_HEARTBEAT_SECONDS: '1',
          SIGHTLINE_AGENT_POLL_WAIT_SECONDS: '2',
          SIGHTLINE_AGENT_BACKOFF_BASE_MS: '200',
          SIGHTLINE_AGENT_BACKOFF_MAX_MS: '1000',
          SIGHTLINE_AGENT_OUTPUT_PORT: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      agent.stdout?.on('data', (d: Buffer) => (agentOut += d.toString()));
      agent.stderr?.on('data', (d: Buffer) => (agentOut += d.toString()));

      // The overview refreshes by itself until the device shows online.
      await page.getByRole('link', { name: 'Fleet', exact: true }).click();
      await page.locator('tr[data-device="lobby-box"] .badge-online').waitFor({ timeout: SLOW });
      await page.screenshot({ path: join(screenshots, 'overview.png'), fullPage: true });

      // Device page: metrics from heartbeats and the live log tail.
      await page.getByRole('link', { name: 'lobby-box' }).click();
      await page.getByRole('heading', { name: 'Device lobby-box' }).waitFor();
      await page
        .locator('ol.logs li')
        .filter({ hasText: /agent started|connected to the control plane/ })
        .first()
        .waitFor({ timeout: SLOW });
      // Two heartbeats make a line in each chart (the console keeps the history from polling).
      await page.locator('figure.chart', { hasText: 'CPU' }).locator('polyline').waitFor({ timeout: SLOW });
      await page.screenshot({ path: join(screenshots, 'device.png'), fullPage: true });

      // Deploy the example app to the real agent with a parameter override. Its real packages are
      // built, signed and pushed with the CLI; the camera, created in the console, is a real RTSP
      // camera simulator (GStreamer's server where installed, else the agent's built-in one) that
      // loops a clip with faces, asks for Digest credentials, and speaks plain rtsp:// (so the
      // console warns).
      const admin = await s.adminToken();
      const cliEnv = {
        SIGHTLINE_URL: s.url,
        SIGHTLINE_CA: join(s.dataDir, 'ca.pem'),
        SIGHTLINE_TOKEN: admin,
        SIGHTLINE_CONFIG_DIR: join(work, 'cli'),
        SIGHTLINE_SIGNING_KEY_PASSPHRASE: 'Heron-2291-estuary-flint',
      };
      const example = join(root, 'examples/privacy-blur');
      const [published, sim] = await Promise.all([
        runCliMany(
          [
            ['signing-key', 'create', 'release'],
            ['package', 'build', example, '--out', join(work, 'code'), '--sign-with', 'release'],
            ['package', 'build', join(example, 'model'), '--out', join(work, 'model'), '--sign-with', 'release'],
            ['package', 'push', join(work, 'code'), '--progress', 'none'],
            ['package', 'push', join(work, 'model'), '--progress', 'none'],
          ].map((args) => ({ args, env: cliEnv })),
        ),
        startCameraSimulator({ file: CLIP, credentials: { username: 'viewer', password: CAMERA_PASSWORD } }),
      ]);
      camera = sim;
      for (const r of published) assert.equal(r.code, 0, r.stderr);
      assert.match(camera.url, /^rtsp:\/\/127\.0\.0\.1:\d+\//);

      await page.getByRole('link', { name: 'Cameras', exact: true }).click();
      await page.getByLabel('Name', { exact: true }).fill('front-door');
      await page.getByLabel('Stream URL').fill(camera.url);
      await page.getByText('Plain rtsp:// is not encrypted').first().waitFor();
      await page.getByLabel('Camera user name').fill('viewer');
      await page.getByLabel('Camera password').fill(CAMERA_PASSWORD);
      await page.getByRole('button', { name: 'Create camera' }).click();
      await page.getByText('Camera front-door created; its credentials are in the secrets store').waitFor();
      await page.locator('td .warning', { hasText: 'RTSP_UNENCRYPTED' }).waitFor();

      await page.getByRole('link', { name: 'Packages', exact: true }).click();
      await page.getByRole('button', { name: 'privacy-blur' }).click();
      await page.getByRole('cell', { name: 'release' }).first().waitFor();

      await page.getByRole('link', { name: 'Deploy', exact: true }).click();
      await page.getByRole('heading', { name: 'Deploy an app' }).waitFor();
      await page.getByLabel('Device').selectOption('lobby-box');
      await page.getByLabel('App manifest (JSON)').fill(readFileSync(join(example, 'app-manifest.json'), 'utf8'));
      await page.getByLabel('Camera for node camera').selectOption('front-door');
      await page.getByLabel('threshold', { exact: true }).fill('0.5');
      // Every text the progress line shows, as the page shows it (the agent may pass a stage
      // between two of the screenshot's frames; the page's own history keeps them all too).
      await page.evaluate(STAGE_RECORDER);
      await page.getByRole('button', { name: 'Deploy', exact: true }).click();
      await page.locator('[data-stage]').waitFor();
      // The agent downloads, verifies, starts the sandboxed app and its model runner, then reports running.
      const final = page.locator('[data-stage="running"], [data-stage="failed"], [data-stage="rolled-back"]');
      await final.waitFor({ timeout: APP_START });
      assert.equal(await final.getAttribute('data-stage'), 'running', (await final.textContent()) ?? '');
      for (const stage of ['queued', 'downloading', 'verifying', 'starting', 'running']) {
        await page.locator('ol.history li', { hasText: stage }).first().waitFor();
      }
      // The agent holds a stage's progress reports to one a second, so its download (in bytes) stays on the page.
      const seen = await page.evaluate<string[]>('window.__stages');
      assert.ok(
        seen.some((t) => /^Stage: downloading \d+% \(.+ of .+\)$/.test(t)),
        `the page showed the download in bytes; it showed: ${JSON.stringify(seen)}`,
      );
      // The list below catches up on its own (it refreshes every 10 s).
      await page
        .locator('tbody tr', { hasText: 'privacy-blur' })
        .getByRole('cell', { name: 'running', exact: true })
        .waitFor({ timeout: SLOW });
      await page.screenshot({ path: join(screenshots, 'deploy.png'), fullPage: true });

      const listed = await s.call<{ apps: AppBody[] }>('GET', '/api/v1/projects/default/apps?device=lobby-box', undefined, admin);
      assert.equal(listed.body.apps.length, 1, JSON.stringify(listed.body));
      const deployed = listed.body.apps[0] as AppBody;
      const instance = deployed.instanceId;
      // The agent reported its download in bytes (the last report of the stage: all of it).
      assert.ok(
        (deployed.bytesTotal ?? 0) > 0 && deployed.bytesDone === deployed.bytesTotal,
        `bytes ${String(deployed.bytesDone)} of ${String(deployed.bytesTotal)}`,
      );

      // The override reached the app itself: it logs its parameters when it starts, into its own
      // log group; no camera URL or credential is in those logs.
      const appLog = await until('the app logging its parameters', async () => {
        const r = await s.call<{ events: { message: string }[] }>(
          'GET',
          `/api/v1/projects/default/log-groups/app-${instance}/events`,
          undefined,
          admin,
        );
        const text = r.status === 200 ? JSON.stringify(r.body.events) : '';
        return text.includes('privacy-blur started') ? text : undefined;
      });
      assert.match(appLog, /threshold\W+0\.5\b/, appLog.slice(0, 2000));
      assert.ok(!appLog.includes(CAMERA_PASSWORD) && !appLog.includes('rtsp://'), 'no camera URL or credential in the app logs');
      // The app sees faces in the clip (its own metrics, as the control plane shows them).
      const counted = await until('faces in the app metrics', async () => {
        const r = await s.call<{ app: AppBody }>('GET', `/api/v1/projects/default/apps/${instance}`, undefined, admin);
        const metrics = r.body.app.nodes.find((n) => n.node === 'blur')?.metrics ?? {};
        return (metrics['faces'] ?? 0) > 0 && (metrics['frames'] ?? 0) > 0 ? metrics : undefined;
      });
      assert.ok((counted['frames'] ?? 0) > 0);

      // The device page shows the running app, its camera's state and fps (reported by the agent, charted),
      // and the agent's own log lines about it.
      await page.getByRole('link', { name: 'Fleet', exact: true }).click();
      await page.getByRole('link', { name: 'lobby-box' }).click();
      await page.getByRole('heading', { name: 'Device lobby-box' }).waitFor();
      await page.locator('li', { hasText: 'privacy-blur' }).locator('.badge-stage-running').first().waitFor({ timeout: SLOW });
      await page.getByText(/camera front-door: connected, (?!0\.0 )\d+\.\d fps/).waitFor({ timeout: SLOW });
      await page.locator('figure.chart', { hasText: 'front-door fps' }).locator('polyline').waitFor({ timeout: SLOW });
      await page.locator('ol.logs li').filter({ hasText: 'app running' }).first().waitFor({ timeout: SLOW });

      // Output preview (issue 8): off by default in the project, an Admin turns it on from the refusal,
      // then the real agent's relay pushes the running app's output (its JPEG encoder over mTLS) through
      // the control plane into the <img>.
      await page.getByRole('button', { name: 'Preview output out' }).click();
      await page.getByRole('alert').filter({ hasText: 'OUTPUT_PREVIEW_DISABLED' }).waitFor();
      await page.getByRole('button', { name: 'Allow output preview in project' }).click();
      await page.getByRole('button', { name: 'Allow output preview in project default' }).click();
      const frame = page.getByRole('img', { name: 'Live output out of privacy-blur on lobby-box' });
      await frame.waitFor({ timeout: SLOW });
      await page.locator('img.preview-frame:not([data-frames="1"])').waitFor({ timeout: SLOW });
      assert.match((await frame.getAttribute('src')) ?? '', /^data:image\/jpeg;base64,\/9j\//, 'a JPEG from the device');
      await page.locator('figure.preview').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(screenshots, 'output-preview.png'), fullPage: true });
      // Stop: the browser's request ends, the control plane ends the device's push and audits it.
      await page.getByRole('button', { name: 'Stop preview' }).click();
      await until('the preview to end', () => Promise.resolve(s.plane.services.previews.active === 0 ? true : undefined));
      const audit = await until('the preview stop in the audit trail', async () => {
        const r = await s.call<{ events: { event: { action: string; parameters: Record<string, unknown> } }[] }>(
          'GET',
          '/api/v1/audit/events?action=device:ViewOutputStop',
          undefined,
          admin,
        );
        return r.body.events.at(-1);
      });
      assert.ok(Number(audit.event.parameters['frames']) >= 2, 'the stop is audited with its frames');

      // The app's own page, from the device page: its code node running with the counts it reports, its camera,
      // and its own log group (the app's logger lines, shipped by the agent into app-<instance>).
      await page.locator('li', { hasText: 'privacy-blur' }).getByRole('link', { name: 'privacy-blur' }).click();
      await page.getByRole('heading', { name: 'App privacy-blur on lobby-box' }).waitFor();
      const blurNode = page.locator('tr[data-node="blur"]');
      await blurNode.getByRole('cell', { name: 'running', exact: true }).waitFor({ timeout: SLOW });
      await blurNode.locator('td.metrics', { hasText: /frames [1-9]/ }).waitFor({ timeout: SLOW });
      const cameraRow = page.locator('tr', { hasText: 'front-door' });
      await cameraRow.getByRole('cell', { name: 'connected', exact: true }).waitFor({ timeout: SLOW });
      const appLogList = page.getByRole('list', { name: 'Log lines of app privacy-blur' });
      await appLogList.locator('li').filter({ hasText: 'privacy-blur started' }).first().waitFor({ timeout: SLOW });
      assert.equal(
        await appLogList.locator('li').filter({ hasText: 'app running' }).count(),
        0,
        'only the app stream, not the agent lines',
      );
      await page.screenshot({ path: join(screenshots, 'app.png'), fullPage: true });
      // Pausing the camera's input (a new revision to the device) and resuming it, each behind a confirmation naming it.
      await cameraRow.getByRole('button', { name: 'Pause camera' }).click();
      await page.getByRole('button', { name: 'Pause camera front-door' }).click();
      await cameraRow.getByRole('cell', { name: 'paused', exact: true }).waitFor({ timeout: SLOW });
      await cameraRow.getByRole('button', { name: 'Resume camera' }).click();
      await page.getByRole('button', { name: 'Resume camera front-door' }).click();
      await cameraRow.getByRole('cell', { name: 'connected', exact: true }).waitFor({ timeout: SLOW });
      await page.locator('[data-stage="running"]').waitFor({ timeout: SLOW });
      await page.getByRole('link', { name: '← Device lobby-box' }).click();
      await page.getByRole('heading', { name: 'Device lobby-box' }).waitFor();

      // A ReadOnly user: first sign-in enrols TOTP from the QR page, then a reboot is refused with the API's message.
      const created = await s.call<{ initialPassword: string }>(
        'POST',
        '/api/v1/users',
        { name: 'viewer', roles: [{ role: 'ReadOnly', project: '*' }] },
        admin,
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const viewer = await newPage(browser);
      await viewer.page.goto(`${s.url}/console/devices/lobby-box`);
      await signIn(viewer.page, 'viewer', created.body.initialPassword);
      await viewer.page.getByRole('heading', { name: 'Set up two-factor sign-in' }).waitFor();
      const qr = viewer.page.getByRole('img', { name: /QR code/ });
      await qr.waitFor();
      assert.match((await qr.getAttribute('src')) ?? '', /^data:image\/png;base64,/);
      const secret = ((await viewer.page.locator('code.secret').textContent()) ?? '').trim();
      await viewer.page.getByLabel('Code from the app').fill(s.code(secret));
      await viewer.page.getByRole('button', { name: 'Confirm and sign in' }).click();
      await viewer.page.getByRole('heading', { name: 'Device lobby-box' }).waitFor();
      await viewer.page.getByRole('button', { name: 'Reboot', exact: true }).click();
      // The confirmation names the device.
      await viewer.page.getByRole('button', { name: 'Reboot lobby-box' }).click();
      const denied = viewer.page.getByRole('alert').filter({ hasText: 'ACCESS_DENIED' }).filter({ hasText: 'device:Reboot' });
      await denied.waitFor();
      // Nor may a ReadOnly user preview the app's output (device:ViewOutput), even with the project's preview on.
      await viewer.page.getByRole('button', { name: 'Preview output out' }).click();
      await viewer.page.getByRole('alert').filter({ hasText: 'ACCESS_DENIED' }).filter({ hasText: 'device:ViewOutput' }).waitFor();
      await viewer.page.getByText('Previewing app output needs the permission device:ViewOutput').waitFor();
      await viewer.page.goto(`${s.url}/console/devices/lobby-box`);
      await viewer.page.getByRole('heading', { name: 'Device lobby-box' }).waitFor();
      const jobs = await s.call<{ jobs: { kind: string }[] }>('GET', '/api/v1/projects/default/devices/lobby-box/jobs', undefined, admin);
      assert.equal(jobs.body.jobs.filter((j) => j.kind === 'reboot').length, 0, 'the refused reboot queued nothing');

      // The session expires (the server's clock jumps past its lifetime): the console says so and,
      // after signing in again, returns to the page the person was on.
      s.clock.advance(9 * 3600 * 1000);
      await viewer.page.getByText('Your session expired').waitFor({ timeout: SLOW });
      assert.match(viewer.page.url(), /\/console\/login\?next=%2Fconsole%2Fdevices%2Flobby-box$/);
      await signIn(viewer.page, 'viewer', created.body.initialPassword, s.code(secret));
      await viewer.page.getByRole('heading', { name: 'Device lobby-box' }).waitFor();
      assert.match(viewer.page.url(), /\/console\/devices\/lobby-box$/);
      await viewer.context.close();

      assert.deepEqual(cspViolations, [], 'the console runs under its CSP without violations');
    } catch (err) {
      if (agentOut !== '') console.error(`agent output:\n${agentOut.slice(-4000)}`);
      // What each open page showed, to tell why a wait ran out.
      for (const p of browser?.contexts().flatMap((c) => c.pages()) ?? []) {
        console.error(`page ${p.url()}:\n${String(await p.evaluate('document.body.innerText').catch(() => '')).slice(0, 2000)}`);
      }
      throw err;
    } finally {
      // SIGTERM first: the agent stops its apps (their sandboxes and model runners) before it exits.
      if (agent !== undefined && agent.exitCode === null) {
        const exited = new Promise((r) => agent?.once('exit', r));
        agent.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        agent.kill('SIGKILL');
      }
      await camera?.stop();
      await browser?.close();
      await s.close();
      rmSync(work, { recursive: true, force: true });
    }
  },
);

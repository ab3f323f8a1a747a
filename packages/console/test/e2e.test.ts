// The console end to end in a real browser (Debian's chromium through
// playwright-core) against a real control plane and a real agent process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { runCliMany } from '../../cli/test/cli-process.js';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { registerDevice } from '../../server/test/packages-publish.js';
import { ensureConsoleBuilt } from '../scripts/ensure-built.js';
import { createHash } from 'node:crypto';
import { connect } from 'node:tls';
import { DeviceClient } from '../../agent/src/client/device-client.js';
import { HttpsFetcher } from '../../agent/src/client/fetcher.js';
import { OutputHub } from '../../agent/src/output/hub.js';
import { JpegEncoder } from '../../agent/src/output/jpeg.js';
import { PreviewRelay } from '../../agent/src/output/preview.js';

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../../..', import.meta.url));
const agentBin = join(root, 'packages/agent/src/cli/main.ts');
const screenshots = join(root, 'docs/screenshots');
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's chromium (scripts/install-test-deps.sh does) to run the console in a real browser`;

/** How long the browser waits for the fleet to change (agent start, heartbeats, log shipping); not a speed check. */
const SLOW = 90_000;

function runAgent(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', agentBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** SHA-256 of the control plane's certificate, as the provisioning archive pins it. */
function serverPin(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = sock.getPeerX509Certificate()?.raw;
      sock.destroy();
      if (raw === undefined) reject(new Error('no certificate'));
      else resolve(createHash('sha256').update(raw).digest('hex'));
    });
    sock.on('error', reject);
  });
}

/** A picture for the preview: a street-ish gradient with a blurred (flat) box where a face would be. */
function syntheticFrame(n: number): { width: number; height: number; data: Uint8Array; timestamp: number; camera: string } {
  const width = 320;
  const height = 180;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const box = x > 120 + (n % 40) && x < 190 + (n % 40) && y > 40 && y < 120;
      data[i] = box ? 150 : (x + n * 3) % 256;
      data[i + 1] = box ? 150 : (y * 2) % 256;
      data[i + 2] = box ? 150 : 200 - ((x + y) % 120);
    }
  }
  return { width, height, data, timestamp: n, camera: 'front-door' };
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

test('console end to end: TOTP sign-in, provision through the wizard, a real agent comes online, its log tail, deploy the example app with an override to running, preview its output once an Admin allows it, ReadOnly enrols TOTP and is denied a reboot and the preview, session expiry keeps the page', { timeout: 300_000, skip }, async () => {
  await ensureConsoleBuilt({ quiet: true });
  mkdirSync(screenshots, { recursive: true });
  const s: TestServer = await startTestServer();
  const work = mkdtempSync(join(tmpdir(), 'sightline-console-e2e-'));
  let browser: Browser | undefined;
  let agent: ChildProcess | undefined;
  let agentOut = '';
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
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
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /Download the archive/ }).click()]);
    await download.saveAs(archive);
    await page.getByText('Archive downloaded').waitFor();
    assert.equal(await page.getByRole('link', { name: /Download the archive/ }).count(), 0, 'the archive can be downloaded once');

    // A real agent registers with the archive and the passphrase, then runs.
    writeFileSync(join(work, 'passphrase'), `${passphrase}\n`, { mode: 0o600 });
    const dataDir = join(work, 'agent');
    const reg = await runAgent(['register', '--archive', archive, '--data-dir', dataDir, '--passphrase-file', join(work, 'passphrase'), '--root-key', 'key-file']);
    assert.equal(reg.code, 0, reg.out);
    agent = spawn(process.execPath, ['--import', 'tsx', agentBin, 'start', '--data-dir', dataDir], {
      env: { ...process.env, SIGHTLINE_AGENT_HEARTBEAT_SECONDS: '1', SIGHTLINE_AGENT_POLL_WAIT_SECONDS: '2', SIGHTLINE_AGENT_BACKOFF_BASE_MS: '200', SIGHTLINE_AGENT_BACKOFF_MAX_MS: '1000' },
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
    await page.locator('ol.logs li').filter({ hasText: /agent started|connected to the control plane/ }).first().waitFor({ timeout: SLOW });
    // Two heartbeats make a line in each chart (the console keeps the history from polling).
    await page.locator('figure.chart', { hasText: 'CPU' }).locator('polyline').waitFor({ timeout: SLOW });
    await page.screenshot({ path: join(screenshots, 'device.png'), fullPage: true });

    // Deploy the example app with a parameter override. Its real packages are built, signed
    // and pushed with the CLI; the camera is created in the console. The agent does not run
    // apps yet, so a second device registered over mTLS by the test reports the stages, as
    // the agent will.
    const admin = await s.adminToken();
    const cliEnv = {
      SIGHTLINE_URL: s.url,
      SIGHTLINE_CA: join(s.dataDir, 'ca.pem'),
      SIGHTLINE_TOKEN: admin,
      SIGHTLINE_CONFIG_DIR: join(work, 'cli'),
      SIGHTLINE_SIGNING_KEY_PASSPHRASE: 'Heron-2291-estuary-flint',
    };
    const example = join(root, 'examples/privacy-blur');
    for (const r of await runCliMany(
      [
        ['signing-key', 'create', 'release'],
        ['package', 'build', example, '--out', join(work, 'code'), '--sign-with', 'release'],
        ['package', 'build', join(example, 'model'), '--out', join(work, 'model'), '--sign-with', 'release'],
        ['package', 'push', join(work, 'code'), '--progress', 'none'],
        ['package', 'push', join(work, 'model'), '--progress', 'none'],
      ].map((args) => ({ args, env: cliEnv })),
    )) {
      assert.equal(r.code, 0, r.stderr);
    }
    const edge = await registerDevice(s, admin, 'edge-1');

    await page.getByRole('link', { name: 'Cameras', exact: true }).click();
    await page.getByLabel('Name', { exact: true }).fill('front-door');
    await page.getByLabel('Stream URL').fill('rtsp://10.0.0.5:554/door');
    await page.getByText('Plain rtsp:// is not encrypted').first().waitFor();
    await page.getByLabel('Camera user name').fill('viewer');
    await page.getByLabel('Camera password').fill('Door-cam-pass-77');
    await page.getByRole('button', { name: 'Create camera' }).click();
    await page.getByText('Camera front-door created; its credentials are in the secrets store').waitFor();
    await page.locator('td .warning', { hasText: 'RTSP_UNENCRYPTED' }).waitFor();

    await page.getByRole('link', { name: 'Packages', exact: true }).click();
    await page.getByRole('button', { name: 'privacy-blur' }).click();
    await page.getByRole('cell', { name: 'release' }).first().waitFor();

    await page.getByRole('link', { name: 'Deploy', exact: true }).click();
    await page.getByRole('heading', { name: 'Deploy an app' }).waitFor();
    await page.getByLabel('Device').selectOption('edge-1');
    await page.getByLabel('App manifest (JSON)').fill(readFileSync(join(example, 'app-manifest.json'), 'utf8'));
    await page.getByLabel('Camera for node camera').selectOption('front-door');
    await page.getByLabel('threshold', { exact: true }).fill('0.5');
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    await page.locator('[data-stage="queued"]').waitFor();
    const listed = await s.call<{ apps: { instanceId: string }[] }>('GET', '/api/v1/projects/default/apps?device=edge-1', undefined, admin);
    const instance = listed.body.apps[0]?.instanceId ?? '';
    const state = await edge.call<{ apps: { instanceId: string; revision: number; parameters: Record<string, Record<string, unknown>> }[] }>('GET', '/device/v1/desired-state');
    const desired = state.body.apps.find((a) => a.instanceId === instance);
    assert.ok(desired !== undefined);
    assert.equal(desired.parameters['blur']?.['threshold'], 0.5, 'the override reached the device');
    const report = async (body: Record<string, unknown>): Promise<void> => {
      const r = await edge.call('POST', `/device/v1/apps/${instance}/status`, { revision: desired.revision, ...body });
      assert.equal(r.status, 204, JSON.stringify(r.body));
    };
    await report({ stage: 'downloading', bytesDone: 500_000, bytesTotal: 1_000_000 });
    await page.locator('[data-stage="downloading"]', { hasText: '50%' }).waitFor();
    await page.screenshot({ path: join(screenshots, 'deploy.png'), fullPage: true });
    await report({ stage: 'downloading', bytesDone: 1_000_000, bytesTotal: 1_000_000 });
    await report({ stage: 'verifying' });
    await report({ stage: 'starting' });
    await report({ stage: 'running', nodes: [{ node: 'blur', state: 'running', restarts: 0 }] });
    await page.locator('[data-stage="running"]').waitFor();
    for (const stage of ['queued', 'downloading', 'verifying', 'starting', 'running']) {
      await page.locator('ol.history li', { hasText: stage }).first().waitFor();
    }

    // Output preview (issue 8): off by default in the project, an Admin turns it on from the refusal,
    // then frames from the device's output reach the <img>. The device's side is the agent's own relay
    // (mTLS client, output hub, ffmpeg JPEG encoder) answering its desired state, as a running agent does.
    const hub = new OutputHub();
    hub.register(instance, ['out']);
    const edgeClient = new DeviceClient(
      new HttpsFetcher({ url: `https://127.0.0.1:${s.port}`, serverCertSha256: await serverPin(s.port), caPem: edge.caPem, certPem: edge.identity.cert, keyPem: edge.identity.key }),
    );
    const relay = new PreviewRelay({
      hub,
      encoder: () => new JpegEncoder('ffmpeg'),
      openPush: (id, signal) => edgeClient.pushPreview(id, signal),
      logger: { info: () => undefined, warn: (m) => (agentOut += `preview relay: ${m}\n`) },
    });
    let frameNo = 0;
    const app = setInterval(() => hub.publish(instance, 'out', syntheticFrame(frameNo++)), 100);
    let polling = true;
    const edgeAgent = (async () => {
      let etag: string | undefined;
      while (polling) {
        const answer = await edgeClient.desiredState(etag, 1).catch(() => ({ changed: false as const }));
        if (answer.changed) {
          etag = answer.state.etag;
          relay.apply(answer.state.previews ?? []);
        }
      }
    })();
    try {
      await page.goto(`${s.url}/console/devices/edge-1`);
      await page.getByRole('heading', { name: 'Device edge-1' }).waitFor();
      await page.getByRole('button', { name: 'Preview output out' }).click();
      await page.getByRole('alert').filter({ hasText: 'OUTPUT_PREVIEW_DISABLED' }).waitFor();
      await page.getByRole('button', { name: 'Allow output preview in project' }).click();
      await page.getByRole('button', { name: 'Allow output preview in project default' }).click();
      const frame = page.getByRole('img', { name: 'Live output out of privacy-blur on edge-1' });
      await frame.waitFor({ timeout: SLOW });
      await page.locator('img.preview-frame:not([data-frames="1"])').waitFor({ timeout: SLOW });
      assert.match((await frame.getAttribute('src')) ?? '', /^data:image\/jpeg;base64,\/9j\//, 'a JPEG from the device');
      await page.locator('figure.preview').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(screenshots, 'output-preview.png'), fullPage: true });
      // Stop: the browser's request ends, the control plane ends the device's push.
      await page.getByRole('button', { name: 'Stop preview' }).click();
      for (let i = 0; i < 100 && (relay.active.length > 0 || s.plane.services.previews.active > 0); i++) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual([relay.active, s.plane.services.previews.active], [[], 0], 'the push ended with the page');
      const audit = await s.call<{ events: { event: { action: string; parameters: Record<string, unknown> } }[] }>('GET', '/api/v1/audit/events?action=device:ViewOutputStop', undefined, admin);
      assert.ok(Number(audit.body.events.at(-1)?.event.parameters['frames']) >= 2, 'the stop is audited with its frames');
    } finally {
      polling = false;
      clearInterval(app);
      await edgeAgent;
      await relay.close();
      edgeClient.close();
    }

    // A ReadOnly user: first sign-in enrols TOTP from the QR page, then a reboot is refused with the API's message.
    const created = await s.call<{ initialPassword: string }>('POST', '/api/v1/users', { name: 'viewer', roles: [{ role: 'ReadOnly', project: '*' }] }, admin);
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
    // Nor may a ReadOnly user preview an app's output (device:ViewOutput), even with the project's preview on.
    await viewer.page.goto(`${s.url}/console/devices/edge-1`);
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
    agent?.kill('SIGKILL');
    await browser?.close();
    await s.close();
    rmSync(work, { recursive: true, force: true });
  }
});

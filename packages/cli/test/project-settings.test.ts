import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { json, runCli, startCliServer, stopCliServer } from './cli-process.js';

test('project settings --output-preview on|off: changes the setting (audited), describe shows it; a bad value is refused before any call', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sightline-cli-settings-'));
  const { s, env } = await startCliServer(tmp);
  try {
    const off = await runCli(['project', 'describe', 'default'], env);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /output preview:\s+off/);
    const on = await runCli(['project', 'settings', 'default', '--output-preview', 'on', '--json'], env);
    assert.equal(on.code, 0, on.stderr);
    assert.deepEqual(json<{ settings: { outputPreview: boolean } }>(on).settings, { outputPreview: true });
    assert.match((await runCli(['project', 'describe', 'default'], env)).stdout, /output preview:\s+on/);
    const bad = await runCli(['project', 'settings', 'default', '--output-preview', 'yes'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Give on or off/);
    const back = await runCli(['project', 'settings', 'default', '--output-preview', 'off'], env);
    assert.match(back.stdout, /output preview off/);
    const events = await s.call<{ events: { event: { outcome: string; parameters: Record<string, unknown> } }[] }>(
      'GET',
      '/api/v1/audit/events?action=project:UpdateSettings',
      undefined,
      await s.adminToken(),
    );
    assert.deepEqual(
      events.body.events.map((e) => [e.event.outcome, e.event.parameters['outputPreview']]),
      [
        ['allowed', true],
        ['allowed', false],
      ],
    );
  } finally {
    await stopCliServer(s, tmp);
  }
});

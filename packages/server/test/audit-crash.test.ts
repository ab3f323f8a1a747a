import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base32Decode, totpCode, verifyAuditLog } from '@sightline/core';
import { initDataDir } from '../src/init/init.js';
import { serve } from './serve-process.js';

test('killing the server (SIGKILL) in the middle of a burst of writes leaves a verifiable log with no change unaudited', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-crash-'));
  try {
    const init = await initDataDir({ dataDir, port: 0, env: {} });
    const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
    let { child, port } = await serve(dataDir);
    const agent = new Agent({ keepAlive: true, maxSockets: 16, ca });
    const call = (method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          {
            agent,
            host: '127.0.0.1',
            port,
            method,
            path,
            servername: 'localhost',
            headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    const login = await call('POST', '/api/v1/auth/login', { user: 'admin', password: init.admin.password, totp: totpCode(base32Decode(init.admin.totpSecret), Date.now()) });
    const token = String(login.body['token']);

    // A burst of 300 writes; the process dies when about a third have answered.
    let answered = 0;
    let killed = false;
    const burst = Array.from({ length: 300 }, (_, i) =>
      call('POST', '/api/v1/groups', { name: `crew-${i}` }, token).then(
        () => {
          answered++;
          if (answered >= 100 && !killed) {
            killed = true;
            child.kill('SIGKILL');
          }
        },
        () => undefined,
      ),
    );
    await Promise.all(burst);
    assert.ok(killed, 'the server was killed mid-burst');
    agent.destroy();
    await new Promise((r) => setTimeout(r, 200));

    ({ child, port } = await serve(dataDir));
    const verify = await call('POST', '/api/v1/audit/verify', {}, token);
    assert.equal(verify.status, 200, JSON.stringify(verify.body));

    const groups = (await call('GET', '/api/v1/groups', undefined, token)).body['groups'] as { name: string }[];
    const lines = (await call('GET', '/api/v1/audit/lines?limit=10000', undefined, token)).body['lines'] as { seq: number; line: string }[];
    const created = new Set(
      lines
        .map((l) => JSON.parse(l.line) as { action: string; outcome: string; resource: string })
        .filter((e) => e.action === 'group:Create' && e.outcome === 'allowed')
        .map((e) => e.resource.replace('srn:sightline::group/', '')),
    );
    assert.ok(groups.length >= 100 && groups.length < 300, `${groups.length} groups survived`);
    // Every change that survived has its event, and no event claims a change that was lost.
    assert.deepEqual(new Set(groups.map((g) => g.name)), created);
    // No half event: every stored line is whole JSON, numbered without gaps.
    lines.forEach((l, i) => assert.equal(l.seq, i));

    // Offline verification over what an export would hold.
    await call('POST', '/api/v1/audit/checkpoints', {}, token);
    const checkpoints = ((await call('GET', '/api/v1/audit/checkpoints', undefined, token)).body['checkpoints'] as { note: string }[]).map((c) => c.note);
    const key = (await call('GET', '/api/v1/audit/public-key')).body['verifierKey'] as string;
    const all = (await call('GET', '/api/v1/audit/lines?limit=10000', undefined, token)).body['lines'] as { line: string }[];
    const result = await verifyAuditLog({ events: all.map((l) => Buffer.from(l.line)), checkpoints, verifier: key, allowUnsignedTail: true });
    assert.ok(result.events >= lines.length);
    child.kill('SIGTERM');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

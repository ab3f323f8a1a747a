/**
 * Authenticated API requests per second over TLS 1.3 keep-alive, against a
 * bare node:https server with the same certificate and TLS settings in the
 * same run (the ceiling). The request is GET /api/v1/users/admin: bearer
 * session lookup, policy evaluation, a database read, JSON out.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base32Decode, totpCode } from '@sightline/core';
import { initDataDir, loadConfig, startControlPlane } from '@sightline/server';
import { RootKey } from '../packages/server/src/keys/root-key.js';
import { loadServerMaterial } from '../packages/server/src/tls/server-material.js';
import { tlsOptions } from '../packages/server/src/tls/tls-options.js';
import { silentLogger } from '../packages/server/src/logging/logger.js';
import { runLoad } from './lib/load.js';

export async function benchHttpsApi(seconds = 8, concurrency = 32): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-bench-'));
  const init = await initDataDir({ dataDir, port: 0, env: {} });
  const config = loadConfig(dataDir, {}, { 'server.host': '127.0.0.1' });
  const plane = await startControlPlane(config, { logger: silentLogger });
  const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  try {
    const login = await fetchJson(plane.url, ca, '/api/v1/auth/login', {
      user: init.admin.name,
      password: init.admin.password,
      totp: totpCode(base32Decode(init.admin.totpSecret), Date.now()),
    });
    const token = String(login['token']);

    const material = loadServerMaterial(config, RootKey.load(dataDir));
    const body = JSON.stringify({ name: 'admin', mfaEnrolled: true, disabled: false });
    const bare = createServer(tlsOptions({ minVersion: '1.2', fips: false }, material), (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    const barePort = (bare.address() as AddressInfo).port;

    const ceiling = await runLoad({ url: `https://127.0.0.1:${barePort}/`, ca, concurrency, seconds });
    const api = await runLoad({ url: `https://127.0.0.1:${new URL(plane.url).port}/api/v1/users/admin`, ca, token, concurrency, seconds });
    bare.close();
    bare.closeAllConnections();
    return {
      bench: 'https-api',
      concurrency,
      seconds,
      bareHttpsPerSecond: Math.round(ceiling.perSecond),
      apiPerSecond: Math.round(api.perSecond),
      ratio: Number((api.perSecond / ceiling.perSecond).toFixed(3)),
      apiP50Ms: Number(api.p50Ms.toFixed(2)),
      apiP99Ms: Number(api.p99Ms.toFixed(2)),
      bareP99Ms: Number(ceiling.p99Ms.toFixed(2)),
      apiErrors: api.errors,
    };
  } finally {
    await plane.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function fetchJson(base: string, ca: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const { request } = await import('node:https');
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port: url.port, path, method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

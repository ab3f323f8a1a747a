import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { sql } from 'kysely';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { base32Decode, totpCode } from '@sightline/core';
import { startControlPlane, type ControlPlane } from '../src/app.js';
import { FrozenClock } from '../src/clock.js';
import { loadConfig } from '../src/config/config.js';
import { initDataDir, type InitResult } from '../src/init/init.js';
import { silentLogger, type Logger } from '../src/logging/logger.js';
import { pgTestUrl, postgresReachable } from '../src/storage/test-databases.js';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export interface TestServer {
  dataDir: string;
  url: string;
  port: number;
  ca: string;
  init: InitResult;
  plane: ControlPlane;
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string, headers?: Record<string, string>): Promise<ApiResponse<T>>;
  /** Signs the first admin in with password + TOTP and returns the token (cached; `fresh` signs in again). */
  adminToken(fresh?: boolean): Promise<string>;
  /**
   * The server's clock is frozen (starting at the real time) so TOTP steps
   * are under the test's control: `code` moves it one 30 s step forward and
   * returns the code for the new step, so codes never collide as replays.
   */
  clock: FrozenClock;
  code(secret: string): string;
  /** The frozen time in whole seconds, for `oathtool --now=@SECONDS`. */
  nowSeconds(): number;
  close(): Promise<void>;
}

export type Engine = 'sqlite' | 'postgres';

export async function engines(): Promise<Engine[]> {
  return (await postgresReachable()) ? ['sqlite', 'postgres'] : ['sqlite'];
}

export async function startTestServer(options: { engine?: Engine; config?: Record<string, unknown>; logger?: Logger } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sightline-srv-'));
  let storageUrl: string | undefined;
  let schema: string | undefined;
  if (options.engine === 'postgres') {
    schema = `t_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: pgTestUrl });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.end();
    const u = new URL(pgTestUrl);
    u.searchParams.set('options', `-c search_path=${schema}`);
    storageUrl = u.toString();
  }
  const init = await initDataDir({ dataDir, port: 0, ...(storageUrl === undefined ? {} : { storageUrl }), env: {} });
  const config = loadConfig(dataDir, {}, { ...options.config, 'server.host': '127.0.0.1' });
  const clock = new FrozenClock(Math.floor(Date.now() / 30_000) * 30_000);
  const plane = await startControlPlane(config, { logger: options.logger ?? silentLogger, clock });
  const port = Number(new URL(plane.url).port);
  const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  const call = <T>(method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<ApiResponse<T>> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          method,
          path,
          ca,
          headers: {
            ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: (text === '' ? {} : JSON.parse(text)) as T });
          });
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  const code = (secret: string): string => {
    clock.advance(30_000);
    return totpCode(base32Decode(secret), clock.now());
  };
  let adminToken: string | undefined;
  return {
    dataDir,
    url: plane.url,
    port,
    ca,
    init,
    plane,
    call,
    clock,
    code,
    nowSeconds: () => Math.floor(clock.now() / 1000),
    async adminToken(fresh = false) {
      if (adminToken !== undefined && !fresh) return adminToken;
      const res = await call<{ token: string }>('POST', '/api/v1/auth/login', {
        user: init.admin.name,
        password: init.admin.password,
        totp: code(init.admin.totpSecret),
      });
      if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${JSON.stringify(res.body)}`);
      adminToken = res.body.token;
      return adminToken;
    },
    async close() {
      await plane.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (schema !== undefined) {
        const client = new pg.Client({ connectionString: pgTestUrl });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      }
    },
  };
}

/** Every file below `dir`: what the "nothing in plaintext" tests grep. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** PostgreSQL: every row of every table of the server's schema, as text (its files are not ours to grep). */
export async function allTableText(s: TestServer): Promise<string> {
  const db = s.plane.services.store.db;
  const tables = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema()`.execute(db);
  const parts: string[] = [];
  for (const t of tables.rows) {
    const rows = await sql<{ r: string }>`select t::text as r from ${sql.table(t.table_name)} t`.execute(db);
    parts.push(...rows.rows.map((x) => x.r));
  }
  return parts.join('\n');
}

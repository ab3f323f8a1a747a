import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase, type OpenedDatabase } from './database.js';

/**
 * The databases every repository test runs on: SQLite always, PostgreSQL when
 * it answers (SIGHTLINE_TEST_PG_URL, default the local server). In CI
 * (CI=true) an unreachable PostgreSQL is an error, not a skip.
 */
export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  url: string;
  /** Opens a fresh, empty, migrated database; `cleanup` removes it. */
  open(): Promise<OpenedDatabase & { cleanup(): Promise<void> }>;
}

export const pgTestUrl = process.env['SIGHTLINE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgReachable: Promise<boolean> | undefined;
export function postgresReachable(): Promise<boolean> {
  pgReachable ??= (async () => {
    const client = new pg.Client({ connectionString: pgTestUrl, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (err) {
      if (process.env['CI'] === 'true') {
        throw new Error(`PostgreSQL at ${pgTestUrl.replace(/\/\/[^@]*@/, '//')} is required in CI but did not answer`, { cause: err });
      }
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgReachable;
}

export const sqliteTestDatabase: TestDatabase = {
  name: 'sqlite',
  url: 'sqlite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'sightline-db-'));
    const opened = await openDatabase({ url: join(dir, 'sightline.db') });
    return {
      ...opened,
      async cleanup() {
        await opened.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresTestDatabase: TestDatabase = {
  name: 'postgres',
  url: pgTestUrl,
  async open() {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const opened = await openDatabase({ url: pgTestUrl, pgSchema: schema, poolSize: 4 });
    return {
      ...opened,
      async cleanup() {
        await opened.close();
        const client = new pg.Client({ connectionString: pgTestUrl });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
  },
};

/** SQLite, plus PostgreSQL when reachable: the list a `describe` loops over. */
export async function testDatabases(): Promise<TestDatabase[]> {
  return (await postgresReachable()) ? [sqliteTestDatabase, postgresTestDatabase] : [sqliteTestDatabase];
}

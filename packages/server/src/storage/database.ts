import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresAdapter,
  PostgresDialect,
  SqliteDialect,
  sql,
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type SchemaMetadata,
  type SqliteDatabase,
  type SqliteStatement,
  type TableMetadata,
} from 'kysely';
import pg from 'pg';
import { SightlineError } from '@sightline/core';
import { migrationProvider } from './migrations/index.js';
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer.js';
import type { Database } from './schema.js';

export type StorageErrorCode = 'STORAGE_URL_INVALID' | 'STORAGE_MIGRATION_FAILED' | 'STORAGE_UNAVAILABLE';
export class StorageError extends SightlineError<StorageErrorCode> {}

export type Db = Kysely<Database>;
export type DatabaseEngine = 'sqlite' | 'postgres';

export interface OpenedDatabase {
  db: Db;
  engine: DatabaseEngine;
  /** SQLite files: the worker that runs WAL checkpoints off the event loop. */
  checkpointer?: Checkpointer;
  close(): Promise<void>;
}

// PostgreSQL returns int8 as a string to avoid precision loss; our bigints are
// millisecond timestamps and counters, far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export interface OpenDatabaseOptions {
  /** `postgres://…` / `postgresql://…`, or `sqlite:PATH`, or a bare file path. */
  url: string;
  /** PostgreSQL only: every table lives in this schema (tests isolate by schema). */
  pgSchema?: string;
  poolSize?: number;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const { url } = options;
  let opened: OpenedDatabase;
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const schema = options.pgSchema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new StorageError('STORAGE_URL_INVALID', 'The PostgreSQL schema name must be lower-case letters, digits and underscores.');
    }
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    });
    if (schema !== undefined) {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    }
    const db = new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool }) });
    opened = { db, engine: 'postgres', close: () => db.destroy() };
  } else {
    const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
    if (file.length === 0) {
      throw new StorageError('STORAGE_URL_INVALID', 'storage.url is empty: give a postgres:// URL or a SQLite file path.');
    }
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const sqlite = new BetterSqlite3(file);
    // The database holds hashes and sealed values only, but it is nobody else's business.
    if (file !== ':memory:') chmodSync(file, 0o600);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // Every API call commits (its audit event): keep the hot pages (the tree's right edge, index
    // tails, the device rows) in memory instead of re-reading them from the OS per statement.
    // Durability is unchanged (WAL + synchronous NORMAL).
    sqlite.pragma('cache_size = -65536');
    // A WAL that a checkpoint emptied is cut back to this size when it restarts.
    sqlite.pragma('journal_size_limit = 67108864');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    // WAL checkpoints (copy back + fsync) run in a worker thread, never on the event loop.
    const checkpointer = file === ':memory:' ? undefined : startCheckpointer(sqlite, file);
    opened = {
      db,
      engine: 'sqlite',
      ...(checkpointer === undefined ? {} : { checkpointer }),
      close: async () => {
        await checkpointer?.stop();
        await db.destroy(); // the last connection to close checkpoints what is left
      },
    };
  }
  try {
    await migrate(opened.db);
  } catch (err) {
    await opened.close();
    throw err;
  }
  return opened;
}

/** How many prepared statements the SQLite connection keeps (the queries are a fixed set of shapes). */
export const STATEMENT_CACHE_SIZE = 1024;

/**
 * Kysely's SQLite driver prepares every query anew; preparing costs as much as
 * running a small query (a profile of the device API showed 9% of the server's
 * time in `prepare`). The same SQL text reuses its statement, least recently
 * used first out. A statement still being iterated (a streamed read) is busy
 * and cannot be shared: the caller then gets a fresh one.
 */
export function withStatementCache(db: BetterSqlite3.Database, size = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare: (text: string): SqliteStatement => {
      const hit = cache.get(text);
      if (hit !== undefined) {
        if (hit.busy) return db.prepare(text);
        cache.delete(text);
        cache.set(text, hit);
        return hit;
      }
      const stmt = db.prepare(text);
      cache.set(text, stmt);
      if (cache.size > size) cache.delete(cache.keys().next().value as string);
      return stmt;
    },
  };
}

/**
 * Kysely's PostgreSQL introspector (which its migrator uses to find its own
 * tables) reads every schema of the database and resolves each table's name
 * through `pg_get_serial_sequence`: a schema dropped meanwhile by someone else
 * (another tenant, a parallel test) fails our migration with "schema … does
 * not exist". This one looks at the schema in effect only.
 */
class CurrentSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}

class CurrentSchemaIntrospector implements DatabaseIntrospector {
  constructor(private readonly db: Kysely<unknown>) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const rows = await sql<{ name: string }>`select current_schema() as name`.execute(this.db);
    return rows.rows.filter((r) => r.name !== null);
  }

  async getTables(options: { withInternalKyselyTables?: boolean } = {}): Promise<TableMetadata[]> {
    const rows = await sql<{
      schema: string;
      table: string;
      kind: string;
      column: string;
      type: string;
      nullable: boolean;
      hasDefault: boolean;
      identity: boolean;
      comment: string | null;
    }>`
      select ns.nspname as schema, c.relname as table, c.relkind as kind, a.attname as column, t.typname as type,
             not a.attnotnull as nullable, a.atthasdef as "hasDefault", a.attidentity <> '' as identity,
             col_description(c.oid, a.attnum) as comment
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        join pg_catalog.pg_type t on t.oid = a.atttypid
       where ns.nspname = current_schema() and c.relkind in ('r', 'v', 'p')
       order by c.relname, a.attnum`.execute(this.db);
    const tables = new Map<string, TableMetadata & { columns: TableMetadata['columns'][number][] }>();
    for (const r of rows.rows) {
      if (!options.withInternalKyselyTables && r.table.startsWith('kysely_')) continue;
      let table = tables.get(r.table);
      if (table === undefined) {
        table = { name: r.table, schema: r.schema, isView: r.kind === 'v', columns: [] };
        tables.set(r.table, table);
      }
      table.columns.push({
        name: r.column,
        dataType: r.type,
        isNullable: r.nullable,
        hasDefaultValue: r.hasDefault,
        isAutoIncrementing: r.identity,
        ...(r.comment === null ? {} : { comment: r.comment }),
      });
    }
    return [...tables.values()];
  }

  async getMetadata(options?: { withInternalKyselyTables?: boolean }): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}

export async function migrate(db: Db): Promise<void> {
  // PostgreSQL: name the schema in effect, or Kysely takes another schema's
  // kysely_migration_lock (tests, tenants on one server) for ours and fails.
  const pgSchema =
    db.getExecutor().adapter instanceof PostgresAdapter
      ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s
      : undefined;
  const migrator = new Migrator({ db, provider: migrationProvider, ...(pgSchema === undefined ? {} : { migrationTableSchema: pgSchema }) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new StorageError(
      'STORAGE_MIGRATION_FAILED',
      `Database migration ${failed} failed; the database was left at the last good migration.`,
      {
        cause: error,
      },
    );
  }
}

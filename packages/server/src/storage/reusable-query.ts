import { CompiledQuery, type Compilable, type QueryResult } from 'kysely';
import type { Db } from './database.js';

const MARK = '\u0000sightline-param-';
const mark = (i: number): string => `${MARK}${i}\u0000`;

interface Shape {
  sql: string;
  /** Per compiled parameter: the caller's parameter index, or a constant the builder put there. */
  slots: ({ param: number } | { constant: unknown })[];
}

/**
 * A query on a hot path, built and compiled by Kysely once per SQL dialect and then run with new
 * parameters: building and compiling cost more than a small SQLite statement runs (the device
 * API profile). The builder gets `$(i)` for the caller's i-th parameter; it must build the same
 * shape whatever the values (no branching on them).
 */
export class ReusableQuery<R> {
  private readonly shapes = new Map<unknown, Shape>();

  constructor(private readonly build: (db: Db, $: (i: number) => never) => Compilable<R>) {}

  private shape(db: Db, count: number): Shape {
    // SQLite and PostgreSQL compile to different SQL: one shape per adapter.
    const dialect = db.getExecutor().adapter.constructor;
    let shape = this.shapes.get(dialect);
    if (shape === undefined) {
      const compiled = this.build(db, mark as (i: number) => never).compile();
      const slots = compiled.parameters.map((v) => {
        if (typeof v === 'string' && v.startsWith(MARK)) return { param: Number(v.slice(MARK.length, -1)) };
        return { constant: v };
      });
      const used = new Set(slots.flatMap((s) => ('param' in s ? [s.param] : [])));
      for (let i = 0; i < count; i++) if (!used.has(i)) throw new Error(`ReusableQuery: parameter ${i} does not reach the SQL`);
      shape = { sql: compiled.sql, slots };
      this.shapes.set(dialect, shape);
    }
    return shape;
  }

  /** Runs on `db` (the pool or the transaction in effect). */
  async execute(db: Db, params: readonly unknown[]): Promise<QueryResult<R>> {
    const shape = this.shape(db, params.length);
    const values = shape.slots.map((s) => ('param' in s ? params[s.param] : s.constant));
    return db.executeQuery<R>(CompiledQuery.raw(shape.sql, values));
  }
}

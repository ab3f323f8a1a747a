import type { Kysely } from 'kysely';

// Project settings (issue 8). output_preview: 0/1, whether the console may
// relay app outputs of this project's devices (off by default).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('projects')
    .addColumn('output_preview', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

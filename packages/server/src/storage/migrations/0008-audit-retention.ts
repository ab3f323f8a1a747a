import type { Kysely } from 'kysely';

// Audit retention (issue 3). audit_base is the cut: events [0, size) were
// dropped, and what stays of them is the compact range (the hashes of the
// maximal complete subtrees over [0, size), RFC 9162 2.1) and the signed
// checkpoint at size, from which the kept log still verifies. One row,
// size 0 until the first cut. audit_exports holds the receipts of
// `sightline audit export`: only a period an export covered may be dropped.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_base')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    /** JSON array of base64 hashes, largest subtree first. */
    .addColumn('compact_range', 'text', (c) => c.notNull())
    /** The C2SP checkpoint note at `size` ('' while size is 0). */
    .addColumn('note', 'text', (c) => c.notNull())
    .addColumn('pruned_at', 'bigint', (c) => c.notNull())
    .execute();
  await db
    .insertInto('audit_base' as never)
    .values({ id: 1, size: 0, compact_range: '[]', note: '', pruned_at: 0 })
    .execute();

  await db.schema
    .createTable('audit_exports')
    .addColumn('id', 'text', (c) => c.primaryKey())
    /** The export held events [from_seq, size) and ended on the signed checkpoint of `size`. */
    .addColumn('from_seq', 'bigint', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('root', 'text', (c) => c.notNull())
    .addColumn('principal_type', 'text', (c) => c.notNull())
    .addColumn('principal_name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_exports_size').on('audit_exports').column('size').execute();
}

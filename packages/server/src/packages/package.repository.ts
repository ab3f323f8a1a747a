import type { PackagePoliciesTable, PackageVersionsTable, SigningKeysTable } from '../storage/schema.js';
import type { Store } from '../storage/store.js';

/** Rows of package versions, signing keys and package policies; every query joins the caller's transaction. */
export class PackageRepository {
  constructor(private readonly store: Store) {}

  findVersion(project: string, name: string, version: string): Promise<PackageVersionsTable | undefined> {
    return this.store.db
      .selectFrom('package_versions')
      .selectAll()
      .where('project', '=', project)
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
  }

  versions(project: string, name: string): Promise<PackageVersionsTable[]> {
    return this.store.db.selectFrom('package_versions').selectAll().where('project', '=', project).where('name', '=', name).orderBy('created_at').execute();
  }

  /** Name, kind and version of every package version of a project (no manifests: the list stays small). */
  listVersions(project: string): Promise<Pick<PackageVersionsTable, 'name' | 'kind' | 'version'>[]> {
    return this.store.db.selectFrom('package_versions').select(['name', 'kind', 'version']).where('project', '=', project).orderBy('name').execute();
  }

  async kindOf(project: string, name: string): Promise<PackageVersionsTable['kind'] | undefined> {
    const row = await this.store.db.selectFrom('package_versions').select('kind').where('project', '=', project).where('name', '=', name).executeTakeFirst();
    return row?.kind;
  }

  async insertVersion(row: PackageVersionsTable): Promise<void> {
    await this.store.db.insertInto('package_versions').values(row).execute();
  }

  findKey(project: string, name: string): Promise<SigningKeysTable | undefined> {
    return this.store.db.selectFrom('signing_keys').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst();
  }

  findKeyById(project: string, keyId: string): Promise<SigningKeysTable | undefined> {
    return this.store.db.selectFrom('signing_keys').selectAll().where('project', '=', project).where('key_id', '=', keyId).executeTakeFirst();
  }

  keys(project: string): Promise<SigningKeysTable[]> {
    return this.store.db.selectFrom('signing_keys').selectAll().where('project', '=', project).orderBy('name').execute();
  }

  async insertKey(row: SigningKeysTable): Promise<void> {
    await this.store.db.insertInto('signing_keys').values(row).execute();
  }

  async deleteKey(id: string): Promise<void> {
    await this.store.db.deleteFrom('signing_keys').where('id', '=', id).execute();
  }

  policy(project: string): Promise<PackagePoliciesTable | undefined> {
    return this.store.db.selectFrom('package_policies').selectAll().where('project', '=', project).executeTakeFirst();
  }

  async putPolicy(row: PackagePoliciesTable): Promise<void> {
    await this.store.db
      .insertInto('package_policies')
      .values(row)
      .onConflict((oc) => oc.column('project').doUpdateSet({ require_signed_by: row.require_signed_by, updated_at: row.updated_at, updated_by: row.updated_by }))
      .execute();
  }
}

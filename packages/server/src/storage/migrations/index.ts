import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-identity.js';
import * as m0002 from './0002-audit.js';
import * as m0003 from './0003-kms.js';
import * as m0004 from './0004-artifacts.js';
import * as m0005 from './0005-secrets-logs.js';
import * as m0006 from './0006-devices.js';
import * as m0007 from './0007-cameras.js';
import * as m0010 from './0010-releases.js';
import * as m0009 from './0009-packages-apps.js';
import * as m0008 from './0008-audit-retention.js';
import * as m0011 from './0011-project-settings.js';

/** Every migration, in order. One set for SQLite and PostgreSQL. */
const migrations: Record<string, Migration> = {
  '0001-identity': m0001,
  '0002-audit': m0002,
  '0003-kms': m0003,
  '0004-artifacts': m0004,
  '0005-secrets-logs': m0005,
  '0006-devices': m0006,
  '0007-cameras': m0007,
  '0010-releases': m0010,
  '0009-packages-apps': m0009,
  '0008-audit-retention': m0008,
  '0011-project-settings': m0011,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};

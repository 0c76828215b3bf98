export type { MigrateOptions, MigrateResult } from './schema/migrate.js';
export { migrate } from './schema/migrate.js';
export type { Migration } from './schema/migration.js';
export { SchemaTooNewError } from './schema/schema-too-new-error.js';

import pg from 'pg';
import { onOneConnection, SAFE_SEARCH_PATH_LOCAL } from '../db/queryable.js';
import { migrations } from '../generated/migrations.js';
import { assertValidSchemaName, DEFAULT_SCHEMA, quoteIdentifier } from './identifiers.js';
import { adoptContinuedCluster, recordRestoreBoundary, restorePending } from './restore-boundary.js';
import type { Rebinding } from './restored-registry.js';
import { nothingRestored, rebindRestored, reinstallRebound, restoredTables } from './restored-registry.js';
import { SchemaTooNewError } from './schema-too-new-error.js';

export interface MigrateOptions {
  /** The schema that holds Auditrum's tables and functions. Default: `auditrum`. */
  schema?: string;
}

export interface MigrateResult {
  /** The schema name, unquoted. */
  schema: string;
  /** Ids of the migrations this call applied, in order; empty when the schema was up to date. */
  applied: number[];
  /** The highest migration id now applied. */
  version: number;
  /**
   * On a database restored from a dump, the tracked tables whose registry rows were rebound to their restored
   * tables (`rebound`) and those that could not be (`failed`, with the reason: a rule naming a column the table no
   * longer has, or a role that may not write the registry), and the application roles no longer trusted because
   * their oid names another role there (`untrustedRoles`), and the log's rows whose transaction ids that cluster
   * has not reached (`aheadOfCluster`, restored from another cluster), and the restore boundary recorded (`boundary`)
   * or why it could not be (`boundaryRefused`). All empty on any other database.
   */
  restored: Rebinding;
}

// psql's conventions: :AUDITRUM_SCHEMA is the quoted identifier, :'AUDITRUM_SCHEMA' the name as a string
// literal (for SQL that builds SQL with format('%I', ...)).
const SCHEMA_PLACEHOLDER = /:AUDITRUM_SCHEMA\b/g;
const SCHEMA_LITERAL_PLACEHOLDER = /:'AUDITRUM_SCHEMA'/g;

/**
 * Installs or upgrades Auditrum's schema. All of it runs in one transaction that first takes an
 * advisory lock for the schema, so concurrent callers (several app instances starting at once)
 * wait for each other and each migration is applied exactly once; a failing migration leaves
 * the database as it was.
 *
 * `db` is a pool (a client is checked out and released) or a connected client that is not
 * inside a transaction.
 */
export async function migrate(db: pg.Pool | pg.Client, options: MigrateOptions = {}): Promise<MigrateResult> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertValidSchemaName(schema);
  return onOneConnection(db, (client) => migrateInTransaction(client, schema));
}

async function migrateInTransaction(client: pg.ClientBase, schema: string): Promise<MigrateResult> {
  const quotedSchema = quoteIdentifier(schema);
  const schemaLiteral = pg.escapeLiteral(schema);
  await client.query('BEGIN');
  try {
    // Run by a superuser or the schema's owner: see SAFE_SEARCH_PATH_LOCAL. The migrations name every object of
    // another schema with it.
    await client.query(SAFE_SEARCH_PATH_LOCAL);
    // Before anything else, so that even the first CREATE SCHEMA of two racing callers is serialised.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`auditrum.migrate:${schema}`]);
    // Created only when missing: CREATE … IF NOT EXISTS checks the privilege to create first, which an application
    // role of the two-role set-up does not have, and its start-up migrate() must find an installed schema up to date.
    const installed = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
      `${quotedSchema}.schema_migrations`,
    ]);
    if (!installed.rows[0]?.found) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${quotedSchema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${quotedSchema}.schema_migrations (
          id integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`,
      );
    }
    const { rows } = await client.query<{ version: number }>(
      `SELECT coalesce(max(id), 0) AS version FROM ${quotedSchema}.schema_migrations`,
    );
    const databaseVersion = rows[0]?.version ?? 0;
    const codeVersion = migrations.at(-1)?.id ?? 0;
    if (databaseVersion > codeVersion) {
      throw new SchemaTooNewError(schema, databaseVersion, codeVersion);
    }

    // Before the migrations, some of which regenerate every capture function from the registry.
    const rebinding = databaseVersion > 0 ? await rebindIfAllowed(client, schema) : nothingRestored();
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.id <= databaseVersion) continue;
      // A replacer function, because a replacement string would expand `$&` etc. in the schema name.
      const sql = migration.sql
        .replace(SCHEMA_LITERAL_PLACEHOLDER, () => schemaLiteral)
        .replace(SCHEMA_PLACEHOLDER, () => quotedSchema);
      await client.query(sql);
      await client.query(`INSERT INTO ${quotedSchema}.schema_migrations (id, name) VALUES ($1, $2)`, [
        migration.id,
        migration.name,
      ]);
      applied.push(migration.id);
    }
    // After the migrations: the boundaries' table is migration 32's.
    const restored = databaseVersion > 0 ? await boundaryIfRestored(client, schema, rebinding) : rebinding;
    await reinstallRebound(client, schema, restored);
    await client.query('COMMIT');
    return { schema, applied, version: codeVersion, restored };
  } catch (error) {
    // If the connection itself broke, ROLLBACK fails too; the caller needs the original error.
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * The registry rebound after a restore (restored-registry.ts), when this role may write it: an application role's
 * start-up migrate() leaves it to the schema's owner and reports each table as failed.
 */
async function rebindIfAllowed(client: pg.ClientBase, schema: string): Promise<Rebinding> {
  const restored = await unlessDenied(client, () => restoredTables(client, schema));
  if (restored === undefined || restored.length === 0) return nothingRestored();
  const reason = 'only the schema owner may rebind the registry: run "auditrum migrate" as the owner';
  return (
    (await unlessDenied(client, () => rebindRestored(client, schema, restored))) ?? {
      ...nothingRestored(),
      failed: restored.map((table) => ({ table, reason })),
    }
  );
}

/**
 * A restore boundary recorded (restore-boundary.ts) when the registry was found restored or the log is elsewhere
 * than its latest boundary says, when this role may write it: an application role's migrate() says why not.
 */
async function boundaryIfRestored(client: pg.ClientBase, schema: string, rebinding: Rebinding): Promise<Rebinding> {
  const foundRestored = rebinding.rebound.length > 0 || rebinding.failed.length > 0;
  const pending = await unlessDenied(client, () => restorePending(client, quoteIdentifier(schema)));
  if (!foundRestored && (pending === undefined || pending === null)) return rebinding;
  // pg_upgrade: another cluster, counting on from the log's transaction ids. Any role may find that out.
  if (!foundRestored && (await adoptContinuedCluster(client, schema))) return { ...rebinding, continuedCluster: true };
  const boundary = await unlessDenied(client, () => recordRestoreBoundary(client, schema));
  return boundary === undefined
    ? {
        ...rebinding,
        boundaryRefused:
          'only the schema owner may record the restore boundary: run "auditrum migrate" as the owner (until then ' +
          'export, seal, verify, the transaction pages and undo by transaction refuse to run)',
      }
    : { ...rebinding, boundary };
}

/** `work` in a savepoint; undefined, and the transaction as before it, when the role lacks a privilege for it. */
async function unlessDenied<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T | undefined> {
  await client.query('SAVEPOINT auditrum_unless_denied');
  try {
    const result = await work();
    await client.query('RELEASE SAVEPOINT auditrum_unless_denied');
    return result;
  } catch (error) {
    if ((error as { code?: string }).code !== '42501') throw error;
    await client.query('ROLLBACK TO SAVEPOINT auditrum_unless_denied');
    return undefined;
  }
}

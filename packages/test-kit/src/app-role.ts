import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { ignoreIdleErrors } from './idle-errors.js';
import type { TestDatabase } from './test-database.js';

/** A non-superuser login role of a test database, created in beforeAll and dropped in afterAll. */
export interface LoginRole {
  /** Its name, unique in the cluster (roles are cluster-wide), e.g. `app_3f9a0c1d2b`. */
  readonly name: string;
  /** A URL to the test database as this role. */
  readonly url: string;
  /** A pool as this role that handles idle-connection errors; ended before the role is dropped. */
  openPool(config?: pg.PoolConfig): pg.Pool;
}

/**
 * A login role that is not a superuser, as applications connect: it creates and so owns its tables, and is one of
 * the application's roles, whose context Auditrum trusts.
 */
export type AppRole = LoginRole;

/** Creates an application role for a useTestDatabase() database (migrated) in beforeAll, and drops it in afterAll. */
export function useAppRole(db: TestDatabase): AppRole {
  return useLoginRole(db, 'app', async (role, name) => {
    // PostgreSQL 15 and later let only the database owner create in public.
    await db.pool.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
    // The run-time role of the two-role set-up: its context comments are trusted.
    await db.pool.query('SELECT auditrum.add_application_role($1::regrole)', [name]);
  });
}

/**
 * A plain login role for the other side of the two-role set-up: `harden({ appRole, adminRole })` makes it the owner of
 * the schema (it seals, verifies, purges, erases). Dropped in afterAll after what it owns goes back to `postgres`.
 */
export function useAdminRole(db: TestDatabase): LoginRole {
  return useLoginRole(db, 'admin', async () => {});
}

function useLoginRole(
  db: TestDatabase,
  prefix: string,
  setUp: (quoted: string, name: string) => Promise<void>,
): LoginRole {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(9).toString('hex');
  const pools = new Set<pg.Pool>();
  let url: string | undefined;

  beforeAll(async () => {
    const role = pg.escapeIdentifier(name);
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await setUp(role, name);
    const roleUrl = new URL(db.url);
    roleUrl.username = name;
    roleUrl.password = password;
    url = roleUrl.toString();
  });

  afterAll(async () => {
    if (url === undefined) return;
    url = undefined;
    await Promise.all([...pools].filter((pool) => !pool.ending).map((pool) => pool.end()));
    const role = pg.escapeIdentifier(name);
    // An admin role owns the schema after harden: its objects go back to the superuser before it is dropped.
    await db.pool.query(`REASSIGN OWNED BY ${role} TO postgres`);
    await db.pool.query(`DROP OWNED BY ${role}`);
    await db.pool.query(`DROP ROLE ${role}`);
  });

  const get = (): string => {
    if (url === undefined) throw new Error('the test role exists only between beforeAll and afterAll');
    return url;
  };
  return {
    name,
    get url() {
      return get();
    },
    openPool(config = {}) {
      const pool = ignoreIdleErrors(new pg.Pool({ ...config, connectionString: get() }));
      pools.add(pool);
      return pool;
    },
  };
}

/**
 * Lets `role` read what the admin's read routes read of the log (docs/admin.md, the `pool` option), as a test that
 * mounts the admin on the application's pool grants it; the erasure tables are left out, so a test that needs them
 * grants them itself.
 */
export async function grantLogReads(db: TestDatabase, role: LoginRole): Promise<void> {
  await db.pool.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests, auditrum.column_names,
       auditrum.table_versions, auditrum.transaction_blocks, auditrum.transaction_blocks_kept, auditrum.kept_departures,
       auditrum.kept_departures_tables, auditrum.history_checkpoints, auditrum.history_checkpoints_kept
     TO ${pg.escapeIdentifier(role.name)}`,
  );
}

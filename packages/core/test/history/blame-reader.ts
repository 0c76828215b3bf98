import { randomBytes } from 'node:crypto';
import type { TestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

/**
 * A non-superuser role that reads history as an admin's or the CLI's role would: it may read the audit schema
 * (granted explicitly) and the tables the test grants it, nothing else. Its pool handles idle-connection errors
 * and is ended, and the role dropped, in afterAll.
 */
export function useHistoryReader(db: TestDatabase): {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
} {
  const name = `reader_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(9).toString('hex');
  let pool: pg.Pool | undefined;
  let roleUrl: string | undefined;
  beforeAll(async () => {
    const role = pg.escapeIdentifier(name);
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await db.pool.query(`GRANT USAGE ON SCHEMA auditrum TO ${role}`);
    await db.pool.query(`GRANT SELECT ON ALL TABLES IN SCHEMA auditrum TO ${role}`);
    const url = new URL(db.url);
    url.username = name;
    url.password = password;
    roleUrl = url.toString();
    pool = new pg.Pool({ connectionString: roleUrl, max: 2 });
    pool.on('error', () => undefined);
  });
  afterAll(async () => {
    await pool?.end();
    const role = pg.escapeIdentifier(name);
    await db.pool.query(`DROP OWNED BY ${role}`);
    await db.pool.query(`DROP ROLE ${role}`);
  });
  return {
    name,
    get url() {
      if (!roleUrl) throw new Error('useHistoryReader(): the role exists only between beforeAll and afterAll');
      return roleUrl;
    },
    get pool() {
      if (!pool) throw new Error('useHistoryReader(): the role exists only between beforeAll and afterAll');
      return pool;
    },
  };
}

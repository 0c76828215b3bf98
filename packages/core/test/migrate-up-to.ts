import type pg from 'pg';
import { migrations } from '../src/generated/migrations.js';

/**
 * Builds the schema `auditrum` as an older release left it: the migrations before `last`, applied and recorded as
 * migrate() applies them, so that an upgrade test can write what that version wrote and then run migrate().
 */
export async function migrateUpTo(pool: pg.Pool, last: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      'CREATE SCHEMA auditrum; CREATE TABLE auditrum.schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (const migration of migrations.filter((m) => m.id < last)) {
      await client.query(
        migration.sql
          .replace(/:'AUDITRUM_SCHEMA'/g, () => "'auditrum'")
          .replace(/:AUDITRUM_SCHEMA\b/g, () => 'auditrum'),
      );
      await client.query('INSERT INTO auditrum.schema_migrations (id, name) VALUES ($1, $2)', [
        migration.id,
        migration.name,
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

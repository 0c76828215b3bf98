import type pg from 'pg';

/**
 * The tables both trigger benchmarks (`bench:triggers`, `bench:trigger-instructions`) write: one orders-like
 * table per variant, and the common audit design they compare Auditrum with.
 */

/** The columns of a benchmark table, in order. */
export const BENCH_COLUMNS = 'id, account, status, amount, qty, note, created_at, updated_at';

/** Creates one (empty) benchmark table. */
export async function createBenchTable(db: pg.Pool, table: string): Promise<void> {
  await db.query(`CREATE TABLE ${table} (
    id bigint PRIMARY KEY,
    account text NOT NULL,
    status text NOT NULL,
    amount numeric(12,2) NOT NULL,
    qty integer NOT NULL,
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`);
}

/** The common design on `table`: one row-level trigger, whole images as jsonb, context from set_config(). */
export async function createCommonDesign(db: pg.Pool, table: string): Promise<void> {
  await db.query(`CREATE TABLE common_log (
    id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    op text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    actor text,
    request_id text,
    old_data jsonb,
    new_data jsonb
  )`);
  await db.query(`CREATE FUNCTION common_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO common_log (table_name, op, actor, request_id, old_data, new_data)
      VALUES (TG_TABLE_NAME, TG_OP, current_setting('app.actor', true), current_setting('app.request_id', true),
        to_jsonb(OLD), to_jsonb(NEW));
      RETURN NULL;
    END $$`);
  await db.query(`CREATE TRIGGER common_log_row AFTER INSERT OR UPDATE OR DELETE ON ${table}
    FOR EACH ROW EXECUTE FUNCTION common_log_row()`);
}

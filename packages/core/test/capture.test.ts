import { createAuditrum } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';

const db = useTestDatabase();

interface ChangeRow {
  operation: string;
  row_key: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
}

async function changesOf(table: string): Promise<ChangeRow[]> {
  const { rows } = await db.pool.query<ChangeRow>(
    `SELECT c.operation, c.row_key, c.old_values, c.new_values FROM auditrum.changes c
     JOIN auditrum.tracked_tables t ON t.id = c.table_id WHERE t.table_name = $1 ORDER BY c.id`,
    [table],
  );
  return rows;
}

describe('capture', () => {
  let audit: ReturnType<typeof createAuditrum>;
  beforeAll(() => {
    audit = createAuditrum({ pool: db.pool, partitions: false });
  });

  it('records INSERT, UPDATE, DELETE and TRUNCATE with the changed columns only', async () => {
    await db.pool.query('CREATE TABLE orders (id int PRIMARY KEY, status text, total numeric(10,2), note json)');
    expect((await audit.track('orders')).action).toBe('tracked');
    await db.pool.query(`INSERT INTO orders VALUES (1, 'draft', 10.50, '{"a": 1}')`);
    await db.pool.query(`UPDATE orders SET status = 'paid' WHERE id = 1`);
    await db.pool.query(`UPDATE orders SET status = 'paid' WHERE id = 1`); // no change: nothing recorded
    await db.pool.query(`UPDATE orders SET note = '{"a":  2}' WHERE id = 1`); // json has no "=": compared as text
    await db.pool.query('DELETE FROM orders WHERE id = 1');
    await db.pool.query('TRUNCATE orders');
    expect(await changesOf('orders')).toEqual([
      {
        operation: 'INSERT',
        row_key: '1',
        old_values: null,
        new_values: { id: 1, status: 'draft', total: 10.5, note: { a: 1 } },
      },
      { operation: 'UPDATE', row_key: '1', old_values: { status: 'draft' }, new_values: { status: 'paid' } },
      { operation: 'UPDATE', row_key: '1', old_values: { note: { a: 1 } }, new_values: { note: { a: 2 } } },
      {
        operation: 'DELETE',
        row_key: '1',
        old_values: { id: 1, status: 'paid', total: 10.5, note: { a: 2 } },
        new_values: null,
      },
      { operation: 'TRUNCATE', row_key: null, old_values: null, new_values: null },
    ]);
  });

  it('applies only, exclude and mask to every operation, DELETE included', async () => {
    await db.pool.query(
      'CREATE TABLE users (id int PRIMARY KEY, name text, email text, password text, updated_at timestamptz)',
    );
    await db.pool.query('CREATE TABLE people (id int PRIMARY KEY, name text, ssn text, secret text)');
    await audit.track('users', { only: ['name', 'email'] });
    await audit.track('people', { exclude: ['secret'], mask: ['ssn'] });
    await db.pool.query(`INSERT INTO users VALUES (1, 'a', 'a@x', 'pw', now())`);
    await db.pool.query(`UPDATE users SET password = 'pw2', updated_at = now() WHERE id = 1`); // untracked columns only
    await db.pool.query(`UPDATE users SET email = 'b@x', password = 'pw3' WHERE id = 1`);
    await db.pool.query('DELETE FROM users');
    expect(await changesOf('users')).toEqual([
      { operation: 'INSERT', row_key: '1', old_values: null, new_values: { name: 'a', email: 'a@x' } },
      { operation: 'UPDATE', row_key: '1', old_values: { email: 'a@x' }, new_values: { email: 'b@x' } },
      { operation: 'DELETE', row_key: '1', old_values: { name: 'a', email: 'b@x' }, new_values: null },
    ]);

    await db.pool.query(`INSERT INTO people VALUES (1, 'p', '123-45', 's1'), (2, 'q', '123-45', 's2')`);
    await db.pool.query(`UPDATE people SET ssn = '999-99', secret = 'x' WHERE id = 1`);
    const people = await changesOf('people');
    const first = people[0]?.new_values as Record<string, string>;
    const second = people[1]?.new_values as Record<string, string>;
    expect(first).not.toHaveProperty('secret');
    expect(first.ssn).toMatch(/^hmac:[0-9a-f]{32}$/);
    expect(first.ssn).toBe(second.ssn); // equal values, equal hashes
    expect(JSON.stringify(people)).not.toContain('123-45');
    expect(people[2]).toMatchObject({ operation: 'UPDATE', old_values: { ssn: first.ssn } });
    expect(people[2]?.new_values?.ssn).not.toBe(first.ssn);
  });

  it('keys rows by composite keys and by given key columns, and refuses a table without one', async () => {
    await db.pool.query('CREATE TABLE lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line))');
    await db.pool.query('CREATE TABLE events (code text, payload text)');
    await audit.track('lines');
    await db.pool.query('INSERT INTO lines VALUES (7, 2, 1)');
    expect((await changesOf('lines'))[0]?.row_key).toBe('[7, 2]');
    await expect(audit.track('events')).rejects.toThrow(
      'table public.events has no primary key; give its key columns (rule "key")',
    );
    await audit.track('events', { key: ['code'] });
    await db.pool.query(`INSERT INTO events VALUES ('e1', 'x')`);
    expect((await changesOf('events'))[0]?.row_key).toBe('e1');
  });

  it('keeps changes that satisfy "when" only', async () => {
    await db.pool.query('CREATE TABLE invoices (id int PRIMARY KEY, status text)');
    await audit.track('invoices', { when: "NEW.status <> 'draft' OR OLD.status <> 'draft'" });
    await db.pool.query(`INSERT INTO invoices VALUES (1, 'draft'), (2, 'sent')`);
    await db.pool.query(`UPDATE invoices SET status = 'sent' WHERE id = 1`);
    await db.pool.query('DELETE FROM invoices WHERE id = 2');
    expect((await changesOf('invoices')).map((c) => [c.operation, c.row_key])).toEqual([
      ['INSERT', '2'],
      ['UPDATE', '1'],
      ['DELETE', '2'],
    ]);
  });

  it('is idempotent, and replaces the trigger when the rules change', async () => {
    await db.pool.query('CREATE TABLE tags (id int PRIMARY KEY, name text, color text)');
    expect((await audit.track('tags', { exclude: ['color'] })).action).toBe('tracked');
    expect(await audit.track('tags', { exclude: ['color'] })).toMatchObject({ action: 'unchanged', ddl: '' });
    expect((await audit.track('tags')).action).toBe('updated');
    await db.pool.query(`INSERT INTO tags VALUES (1, 'n', 'red')`);
    expect((await changesOf('tags'))[0]?.new_values).toEqual({ id: 1, name: 'n', color: 'red' });
  });

  it('dry run reports the DDL and changes nothing', async () => {
    await db.pool.query('CREATE TABLE drafts (id int PRIMARY KEY, body text)');
    const dry = await audit.track('drafts', {}, { dryRun: true });
    expect(dry.ddl).toContain('CREATE OR REPLACE FUNCTION auditrum.capture_');
    expect(dry.ddl).toContain('CREATE TRIGGER auditrum_capture_update AFTER UPDATE ON public.drafts');
    const { rowCount } = await db.pool.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = 'drafts'::regclass`);
    expect(rowCount).toBe(0);
    expect((await audit.status()).tables.map((t) => t.table)).not.toContain('public.drafts');
  });

  it('follows ALTER TABLE: added, renamed and dropped columns, renamed tables', async () => {
    await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, title text, price int, secret text)');
    await audit.track('items', { mask: ['secret'], exclude: ['price'] });
    await db.pool.query('ALTER TABLE items ADD COLUMN color text');
    await db.pool.query('ALTER TABLE items RENAME COLUMN secret TO hidden');
    await db.pool.query(`INSERT INTO items VALUES (1, 't', 5, 'shh', 'red')`);
    await db.pool.query('ALTER TABLE items DROP COLUMN title');
    await db.pool.query('ALTER TABLE items RENAME TO products');
    await db.pool.query(`UPDATE products SET color = 'blue', price = 6 WHERE id = 1`);
    const changes = await changesOf('products');
    expect(changes[0]?.new_values).toMatchObject({ id: 1, title: 't', color: 'red' });
    expect(changes[0]?.new_values?.hidden).toMatch(/^hmac:/); // the mask followed the rename
    expect(changes[1]).toEqual({
      operation: 'UPDATE',
      row_key: '1',
      old_values: { color: 'red' },
      new_values: { color: 'blue' },
    });
    const status = await audit.status();
    expect(status.followsDdl).toBe(true);
    expect(status.tables.find((t) => t.table === 'public.products')).toMatchObject({
      rules: { key: ['id'], exclude: ['price'], mask: ['hidden'] },
      enabledTriggers: 4,
      drifted: false,
    });
    await expect(db.pool.query('ALTER TABLE products DROP COLUMN id')).rejects.toThrow(
      'a key column of table public.products no longer exists',
    );
  });

  it('captures a 100,000-row UPDATE completely, pairing rows even when the key changes', async () => {
    await db.pool.query('CREATE TABLE bulk (id int PRIMARY KEY, n int)');
    await db.pool.query('INSERT INTO bulk SELECT g, 0 FROM generate_series(1, 100000) g');
    await audit.track('bulk');
    await db.pool.query('UPDATE bulk SET n = n + 1');
    await db.pool.query('UPDATE bulk SET id = id + 1000000 WHERE id <= 3');
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE new_values = '{"n": 1}')::int AS ok FROM auditrum.change_log
       WHERE table_name = 'bulk' AND operation = 'UPDATE' AND old_values = '{"n": 0}'`,
    );
    expect(rows[0]).toEqual({ n: 100000, ok: 100000 });
    const moved = await db.pool.query(
      `SELECT row_key, old_values, new_values FROM auditrum.change_log WHERE table_name = 'bulk' AND old_values ? 'id' ORDER BY row_key`,
    );
    expect(moved.rows).toEqual(
      [1, 2, 3].map((id) => ({ row_key: String(id + 1000000), old_values: { id }, new_values: { id: id + 1000000 } })),
    );
  });

  it('untracks, keeping the history', async () => {
    await db.pool.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
    await audit.track('notes');
    await db.pool.query(`INSERT INTO notes VALUES (1, 'x')`);
    expect((await audit.untrack('notes')).action).toBe('untracked');
    await db.pool.query(`INSERT INTO notes VALUES (2, 'y')`);
    // The untracking is recorded as a DDL row; the insert after it is not.
    expect((await changesOf('notes')).map((c) => [c.operation, c.row_key])).toEqual([
      ['INSERT', '1'],
      ['DDL', null],
    ]);
  });

  it('rejects bad input with a message that names the culprit, and changes nothing', async () => {
    await db.pool.query('CREATE TABLE accounts (id int PRIMARY KEY, name text)');
    await expect(audit.track('nosuch')).rejects.toThrow('table "nosuch" does not exist');
    await expect(audit.track('a.b.c.d')).rejects.toThrow('invalid table name "a.b.c.d"');
    await expect(audit.track('accounts', { only: ['nme'] })).rejects.toThrow(
      'column "nme" of table public.accounts does not exist (in rule "only")',
    );
    await expect(audit.track('accounts', { when: 'NEW.nope > 1' })).rejects.toThrow(
      'invalid "when" condition for table public.accounts',
    );
    await expect(audit.track('accounts', { when: 'true; DROP TABLE accounts' })).rejects.toThrow('without ";"');
    await expect(audit.track('accounts', { only: ['name'], exclude: ['name'] })).rejects.toThrow('not both');
    await expect(audit.track('accounts', { bogus: 1 } as never)).rejects.toThrow('unknown rule "bogus"');
    await expect(audit.track('accounts', { mask: ['id'] })).rejects.toThrow(
      'key columns of table public.accounts cannot be masked',
    );
    await expect(audit.track('auditrum.changes')).rejects.toThrow('belongs to Auditrum itself');
    const { rowCount } = await db.pool.query(`SELECT 1 FROM pg_trigger WHERE tgrelid = 'accounts'::regclass`);
    expect(rowCount).toBe(0);
  });

  it('tracks every table of a schema except the excluded ones', async () => {
    await db.pool.query('CREATE SCHEMA shop');
    await db.pool.query(
      'CREATE TABLE shop.a (id int PRIMARY KEY); CREATE TABLE shop.b (id int PRIMARY KEY); CREATE TABLE shop.c (id int PRIMARY KEY)',
    );
    const results = await audit.trackSchema('shop', { except: ['c'] });
    expect(results.map((r) => [r.table, r.action])).toEqual([
      ['shop.a', 'tracked'],
      ['shop.b', 'tracked'],
    ]);
    await expect(audit.trackSchema('nope')).rejects.toThrow('schema "nope" does not exist');
  });
});

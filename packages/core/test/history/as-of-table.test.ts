import type { TableRowState } from '@auditrum/core';
import { createAuditrum, rowAsOf, tableAsOf } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useHistoryReader } from './blame-reader.js';

// A whole table as of a time, streamed with COPY: the rows that existed then, as rowAsOf rebuilds each; memory
// bounded by the consumer's pace; no transaction needed or left open; read with the reader's own rights.
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let app: pg.Pool;
let audit: ReturnType<typeof createAuditrum>;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  audit = createAuditrum({ pool: db.pool, partitions: false });
});

afterAll(async () => {
  await audit.close();
});

async function now(): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`);
  return rows[0]?.at as string;
}

async function all(rows: AsyncIterable<TableRowState>): Promise<Map<string, TableRowState>> {
  const byKey = new Map<string, TableRowState>();
  for await (const row of rows) {
    expect(byKey.has(row.rowKey), row.rowKey).toBe(false);
    byKey.set(row.rowKey, row);
  }
  return byKey;
}

describe('a table as of a time', () => {
  it('lists every row that existed then, each as rowAsOf rebuilds it, from a few thousand rows', async () => {
    await app.query('CREATE TABLE parts (id int PRIMARY KEY, name text, qty int)');
    // 1..2000 exist before tracking; 2001..4000 are inserted while tracked.
    await app.query(`INSERT INTO parts SELECT i, 'p' || i, i FROM generate_series(1, 2000) i`);
    await audit.track('parts');
    await app.query(`INSERT INTO parts SELECT i, 'p' || i, i FROM generate_series(2001, 4000) i`);
    const first = await now();
    await app.query('UPDATE parts SET qty = qty + 1 WHERE id % 3 = 0');
    // Rows changed many times: each column's last value must win (the merge reads a key's changes in id order).
    for (let round = 1; round <= 5; round++) {
      await app.query(`UPDATE parts SET name = 'r' || $1 || '-' || id WHERE id % 7 = 0 AND id <= 700`, [round]);
    }
    await app.query('DELETE FROM parts WHERE id % 10 = 0');
    await app.query(`INSERT INTO parts SELECT i, 'p' || i, 0 FROM generate_series(4001, 4500) i`);
    await app.query('UPDATE parts SET id = id + 10000 WHERE id BETWEEN 101 AND 110');
    const second = await now();

    const then = await all(await audit.tableAsOf({ table: 'parts', at: first }));
    expect(then.size).toBe(4000);
    for (let i = 1; i <= 4000; i++) {
      expect(then.get(String(i))?.values, String(i)).toEqual({ id: i, name: `p${i}`, qty: i });
    }
    expect(then.get('1')?.rebuiltFrom).toBe('live');
    expect(then.get('3')?.rebuiltFrom).toBe('backward');
    expect(then.get('2001')?.rebuiltFrom).toBe('forward');
    expect(then.get('1')?.unknown).toEqual([]);

    const later = await all(await audit.tableAsOf({ table: 'parts', at: second }));
    // On a pool the query is read and streamed in a transaction of its own; on a client, table_as_of() is copied as
    // it is: the same rows either way.
    const client = await db.pool.connect();
    try {
      expect(await all(await tableAsOf(client, 'auditrum', { table: 'parts', at: second }))).toEqual(later);
    } finally {
      client.release();
    }
    const expected = new Map<string, { id: number; name: string; qty: number }>();
    for (let i = 1; i <= 4500; i++) {
      if (i <= 4000 && i % 10 === 0) continue;
      const id = i >= 101 && i <= 110 ? i + 10000 : i;
      const name = i % 7 === 0 && i <= 700 ? `r5-${i}` : `p${i}`;
      expected.set(String(id), { id, name, qty: i > 4000 ? 0 : i % 3 === 0 ? i + 1 : i });
    }
    expect(new Set(later.keys())).toEqual(new Set(expected.keys()));
    for (const [key, values] of expected) expect(later.get(key)?.values, key).toEqual(values);
    // The same rebuilding as one row at a time, for rows of every kind.
    for (const key of ['1', '3', '2001', '2003', '4001', '10101', '10109', '99', '21', '693']) {
      const single = await rowAsOf(db.pool, 'auditrum', { table: 'parts', key, at: second });
      expect(single.exists, key).toBe(true);
      expect(later.get(key), key).toEqual(single);
    }
  });

  it('is streamed: the server waits for a reader that does not read, and one that stops early ends it', async () => {
    await app.query('CREATE TABLE pages (id int PRIMARY KEY, body text)');
    await audit.track('pages');
    await app.query(`INSERT INTO pages SELECT i, repeat(md5(i::text), 16) FROM generate_series(1, 40000) i`);
    const at = await now();
    const pool = db.openPool({ max: 1 });
    const rows = (await tableAsOf(pool, 'auditrum', { table: 'pages', at }))[Symbol.asyncIterator]();
    const first = await rows.next();
    expect(first.done).toBe(false);
    expect((first.value as TableRowState).values.body).toHaveLength(512);
    // 40,000 rows of 512 bytes are more than any socket buffer: if the client read them all into memory, the
    // server would have finished; it waits to write instead, for as long as the reader does not read.
    let waiting: { state: string; wait_event: string | null } | undefined;
    for (let poll = 0; poll < 200 && waiting?.wait_event !== 'ClientWrite'; poll++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      // The reading connection's backend: a parallel worker scanning for it waits on its leader (MessageQueueSend).
      const { rows: activity } = await db.pool.query<{ state: string; wait_event: string | null }>(
        `SELECT state, wait_event FROM pg_stat_activity
         WHERE query LIKE 'COPY (SELECT row_key%' AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
      );
      waiting = activity[0];
    }
    expect(waiting).toEqual({ state: 'active', wait_event: 'ClientWrite' });
    // Stopping early gives the connection up (it is mid-COPY); the pool opens another.
    await rows.return?.(undefined);
    expect(pool.totalCount).toBe(0);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('fails, not hangs, when the server ends the connection mid-stream, and the pool carries on', async () => {
    await app.query('CREATE TABLE logs (id int PRIMARY KEY, line text)');
    await audit.track('logs');
    await app.query(`INSERT INTO logs SELECT i, repeat(md5(i::text), 16) FROM generate_series(1, 30000) i`);
    const pool = db.openPool({ max: 1 });
    const rows = (await tableAsOf(pool, 'auditrum', { table: 'logs', at: await now() }))[Symbol.asyncIterator]();
    expect((await rows.next()).done).toBe(false);
    const { rows: ended } = await db.pool.query<{ ended: boolean }>(
      // The reading connection's backend, not the parallel workers that scan this 17 MB table for it.
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
       WHERE query LIKE 'COPY (SELECT row_key%' AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    );
    expect(ended).toEqual([{ ended: true }]);
    const failure = await (async () => {
      for (let next = await rows.next(); !next.done; next = await rows.next());
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((failure as { code?: string }).code).toBe('57P01');
    expect(pool.totalCount).toBe(0);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('needs no transaction: a client in autocommit stays out of one, and one stopped early is usable again', async () => {
    await app.query('CREATE TABLE tags (id int PRIMARY KEY, label text)');
    await audit.track('tags');
    await app.query(`INSERT INTO tags SELECT i, 't' || i FROM generate_series(1, 3000) i`);
    const at = await now();
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      expect((await all(await tableAsOf(client, 'auditrum', { table: 'tags', at }))).size).toBe(3000);
      // The original opened a transaction for its named cursor in autocommit; a COPY needs none and leaves none.
      await expect(client.query('SAVEPOINT probe')).rejects.toThrow('SAVEPOINT can only be used in transaction blocks');
      let seen = 0;
      for await (const _ of await tableAsOf(client, 'auditrum', { table: 'tags', at })) {
        if (++seen === 10) break;
      }
      expect((await client.query('SELECT count(*)::int AS n FROM tags')).rows).toEqual([{ n: 3000 }]);
      // Inside the caller's own transaction it reads that transaction's view.
      await client.query('BEGIN');
      await client.query(`SET LOCAL work_mem = '5MB'`);
      await client.query(`DELETE FROM tags WHERE id > 10`);
      const inside = await all(await tableAsOf(client, 'auditrum', { table: 'tags', at: new Date() }));
      expect(inside.size).toBe(10);
      // The larger work_mem the query takes is its own: the transaction's setting is as it was.
      expect((await client.query('SHOW work_mem')).rows).toEqual([{ work_mem: '5MB' }]);
      await client.query('ROLLBACK');
    } finally {
      await client.end();
    }
  });

  it("reads with the caller's rights: a reader of the log sees the table only with SELECT on it", async () => {
    await app.query('CREATE TABLE vault (id int PRIMARY KEY, content text)');
    await app.query(`INSERT INTO vault VALUES (1, 'before tracking')`);
    await audit.track('vault');
    const at = await now();
    await expect(all(await tableAsOf(reader.pool, 'auditrum', { table: 'vault', at }))).rejects.toThrow(
      'permission denied for table vault',
    );
    await expect(rowAsOf(reader.pool, 'auditrum', { table: 'vault', key: 1, at })).rejects.toThrow(
      'permission denied for table vault',
    );
    await app.query(`GRANT SELECT ON vault TO ${pg.escapeIdentifier(reader.name)}`);
    const rows = await all(await tableAsOf(reader.pool, 'auditrum', { table: 'vault', at }));
    expect(rows.get('1')?.values).toEqual({ id: 1, content: 'before tracking' });
    // No function of the history is SECURITY DEFINER: none can read for the caller what the caller cannot.
    const { rows: definers } = await db.pool.query<{ name: string }>(
      `SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'auditrum' AND p.prosecdef
         AND (p.proname LIKE '%as_of' OR p.proname LIKE '_history%' OR p.proname = 'field_history')`,
    );
    expect(definers).toEqual([]);
  });

  it('lists nothing for a time before the table had rows, and reads an empty table', async () => {
    await app.query('CREATE TABLE later (id int PRIMARY KEY)');
    await audit.track('later');
    const before = await now();
    await app.query('INSERT INTO later VALUES (1), (2)');
    expect((await all(await audit.tableAsOf({ table: 'later', at: before }))).size).toBe(0);
    await app.query('TRUNCATE later');
    expect((await all(await audit.tableAsOf({ table: 'later', at: new Date() }))).size).toBe(0);
  });
});

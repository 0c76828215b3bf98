import type { FieldBlame, RowBlame } from '@auditrum/core';
import { blame, createAuditrum, instrumentPg, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useHistoryReader } from './blame-reader.js';

// Blame: per field of a row, who set its current value (actor, request, transaction, reason, change id), read by
// a non-superuser role that may read the audit schema, from changes written by the application's own role.
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let app: pg.Pool;

interface Recorded {
  id: string;
  txid: string;
  changed_at: string;
}

/** The log's rows for a table, oldest first, as the reference for the exact ids, txids and times. */
async function recorded(table: string): Promise<Recorded[]> {
  const { rows } = await db.pool.query<Recorded>(
    `SELECT l.id::text AS id, l.txid::text AS txid,
       to_char(l.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS changed_at
     FROM auditrum.change_log l WHERE l.table_name = $1 ORDER BY l.id`,
    [table],
  );
  return rows;
}

/** Each field as [field, change id, operation, actor, request, reason, old, new, unknown]. */
function summary(result: RowBlame): unknown[][] {
  return result.fields.map((f: FieldBlame) => [
    f.field,
    f.change?.id ?? null,
    f.change?.operation ?? null,
    f.change?.actorId ?? null,
    f.change?.requestId ?? null,
    f.change?.reason ?? null,
    f.oldValue,
    f.newValue,
    f.unknown,
  ]);
}

async function track(table: string, rules = {}): Promise<void> {
  await createAuditrum({ pool: db.pool, partitions: false }).track(table, rules);
  await app.query(`GRANT SELECT ON ${table} TO ${reader.name}`);
}

beforeAll(() => {
  app = role.openPool({ max: 2 });
  instrumentPg(app);
});
afterAll(() => app.end());

describe('blame', () => {
  it('names per field the change that set it: actor, request, transaction, reason, source, values', async () => {
    await app.query('CREATE TABLE people (id int PRIMARY KEY, name text, email text, note text)');
    await track('public.people', { mask: ['email'] });
    await withAuditContext({ actor: { id: 'u1', label: 'Ann' }, requestId: 'req-1', source: 'http' }, () =>
      app.query(`INSERT INTO people VALUES (1, 'Ann', 'ann@x.test', 'first')`),
    );
    // Two statements in one transaction: both changes carry its txid.
    await withAuditContext({ actor: { id: 'u2' }, requestId: 'req-2', reason: 'typo', source: 'http' }, async () => {
      const client = await app.connect();
      try {
        await client.query('BEGIN');
        await client.query(`UPDATE people SET name = 'Anne' WHERE id = 1`);
        await client.query(`UPDATE people SET email = 'anne@x.test' WHERE id = 1`);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    });
    await withAuditContext({ source: 'job', reason: 'nightly' }, () =>
      app.query(`UPDATE people SET name = 'Anne B' WHERE id = 1`),
    );
    const [insert, rename, email, job] = await recorded('people');

    const result = await blame(reader.pool, 'auditrum', { table: 'public.people', key: 1 });
    expect(result.table).toBe('public.people');
    expect(result.rowKey).toBe('1');
    expect(result.deletedBy).toBeNull();
    expect(result.when).toBeNull();
    expect(summary(result)).toEqual([
      ['id', insert?.id, 'INSERT', 'u1', 'req-1', null, null, 1, null],
      ['name', job?.id, 'UPDATE', null, null, 'nightly', 'Anne', 'Anne B', null],
      ['email', email?.id, 'UPDATE', 'u2', 'req-2', 'typo', expect.stringMatching(/^hmac:/), expect.any(String), null],
      ['note', insert?.id, 'INSERT', 'u1', 'req-1', null, null, 'first', null],
    ]);
    expect(result.fields[0]?.change).toEqual({
      id: insert?.id,
      changedAt: insert?.changed_at,
      txid: insert?.txid,
      operation: 'INSERT',
      actorId: 'u1',
      actorLabel: 'Ann',
      requestId: 'req-1',
      reason: null,
      source: 'http',
      dbUser: null,
      claimed: null,
    });
    expect(result.fields[1]?.change?.source).toBe('job');
    // The masked column shows that it changed and by whom, never the value in clear.
    const masked = result.fields[2] as FieldBlame;
    expect(masked.masked).toBe(true);
    expect(JSON.stringify(masked)).not.toContain('anne@x.test');
    expect(masked.change?.txid).toBe(email?.txid);
    expect(rename?.txid).toBe(email?.txid);

    // The instance method answers the same (here on the owner's pool).
    expect(await createAuditrum({ pool: db.pool, partitions: false }).blame({ table: 'people', key: 1 })).toEqual(
      result,
    );

    // One field: the same answer for it alone.
    const one = await blame(reader.pool, 'auditrum', { table: 'people', key: '1', field: 'note' });
    expect(summary(one)).toEqual([['note', insert?.id, 'INSERT', 'u1', 'req-1', null, null, 'first', null]]);
  });

  it('reads a composite key given as an array or an object', async () => {
    await app.query('CREATE TABLE stock (shop text, sku text, qty int, PRIMARY KEY (shop, sku))');
    await track('public.stock');
    await withAuditContext({ actor: { id: 'u1' }, requestId: 'r-a' }, () =>
      app.query(`INSERT INTO stock VALUES ('north', 'A-1', 5), ('south', 'A-1', 7)`),
    );
    await withAuditContext({ actor: { id: 'u2' }, requestId: 'r-b' }, () =>
      app.query(`UPDATE stock SET qty = 4 WHERE shop = 'north'`),
    );
    const [north, south, update] = await recorded('stock');
    for (const key of [['north', 'A-1'], { sku: 'A-1', shop: 'north' }]) {
      const result = await blame(reader.pool, 'auditrum', { table: 'stock', key });
      expect(result.rowKey).toBe('["north", "A-1"]');
      expect(summary(result)).toEqual([
        ['shop', north?.id, 'INSERT', 'u1', 'r-a', null, null, 'north', null],
        ['sku', north?.id, 'INSERT', 'u1', 'r-a', null, null, 'A-1', null],
        ['qty', update?.id, 'UPDATE', 'u2', 'r-b', null, 5, 4, null],
      ]);
    }
    const other = await blame(reader.pool, 'auditrum', { table: 'stock', key: ['south', 'A-1'], field: 'qty' });
    expect(summary(other)).toEqual([['qty', south?.id, 'INSERT', 'u1', 'r-a', null, null, 7, null]]);
  });

  it("counts a renamed column's history under its name today and leaves a dropped column out", async () => {
    await app.query('CREATE TABLE notes (id int PRIMARY KEY, title text, body text, tag text)');
    await track('public.notes');
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO notes VALUES (1, 't', 'b', 'x')`));
    await withAuditContext({ actor: { id: 'u2' } }, () => app.query(`UPDATE notes SET title = 't2' WHERE id = 1`));
    await app.query('ALTER TABLE notes RENAME COLUMN title TO heading');
    await app.query('ALTER TABLE notes DROP COLUMN tag');
    await withAuditContext({ actor: { id: 'u3' } }, () => app.query(`UPDATE notes SET body = 'b2' WHERE id = 1`));
    const [insert, title, body] = await recorded('notes');
    const result = await blame(reader.pool, 'auditrum', { table: 'notes', key: 1 });
    expect(summary(result)).toEqual([
      ['id', insert?.id, 'INSERT', 'u1', null, null, null, 1, null],
      ['heading', title?.id, 'UPDATE', 'u2', null, null, 't', 't2', null],
      ['body', body?.id, 'UPDATE', 'u3', null, null, 'b', 'b2', null],
    ]);
    await expect(blame(reader.pool, 'auditrum', { table: 'notes', key: 1, field: 'title' })).rejects.toThrow(
      'table public.notes has no column "title" (its columns: id, heading, body)',
    );
  });

  it('reads each change under the names of its own time when two columns swapped names', async () => {
    await app.query('CREATE TABLE pairs2 (id int PRIMARY KEY, a text, b text)');
    await track('public.pairs2');
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO pairs2 VALUES (1, 'a0', 'b0')`));
    await withAuditContext({ actor: { id: 'u2' } }, () => app.query(`UPDATE pairs2 SET a = 'a1' WHERE id = 1`));
    await app.query('ALTER TABLE pairs2 RENAME COLUMN a TO tmp');
    await app.query('ALTER TABLE pairs2 RENAME COLUMN b TO a');
    await app.query('ALTER TABLE pairs2 RENAME COLUMN tmp TO b');
    const [insert, first] = await recorded('pairs2');
    // Today's b is the column first called a (changed by u2); today's a was b, set by the INSERT only. Column order.
    expect(summary(await blame(reader.pool, 'auditrum', { table: 'pairs2', key: 1 }))).toEqual([
      ['id', insert?.id, 'INSERT', 'u1', null, null, null, 1, null],
      ['b', first?.id, 'UPDATE', 'u2', null, null, 'a0', 'a1', null],
      ['a', insert?.id, 'INSERT', 'u1', null, null, null, 'b0', null],
    ]);
    // Untracked now: every field's last recorded change may have been followed by one not recorded.
    await createAuditrum({ pool: db.pool, partitions: false }).untrack('public.pairs2');
    const untracked = await blame(reader.pool, 'auditrum', { table: 'pairs2', key: 1 });
    expect(untracked.fields.map((f) => [f.field, f.change?.id, f.unknown])).toEqual([
      ['id', insert?.id, 'untracked_gap'],
      ['b', first?.id, 'untracked_gap'],
      ['a', insert?.id, 'untracked_gap'],
    ]);
  });

  it('says "before tracking" for a row inserted before tracking, and follows it once it changes', async () => {
    await app.query('CREATE TABLE legacy (id int PRIMARY KEY, a text, b text)');
    await app.query(`INSERT INTO legacy VALUES (1, 'a', 'b'), (2, 'a', 'b')`);
    await track('public.legacy');
    await withAuditContext({ actor: { id: 'u9' }, requestId: 'r-9' }, () =>
      app.query(`UPDATE legacy SET b = 'b2' WHERE id = 1`),
    );
    const [update] = await recorded('legacy');
    expect(summary(await blame(reader.pool, 'auditrum', { table: 'legacy', key: 1 }))).toEqual([
      ['id', null, null, null, null, null, null, null, 'before_tracking'],
      ['a', null, null, null, null, null, null, null, 'before_tracking'],
      ['b', update?.id, 'UPDATE', 'u9', 'r-9', null, 'b', 'b2', null],
    ]);
    // Never changed since tracking: every field is unknown, and the row is known to exist.
    const untouched = await blame(reader.pool, 'auditrum', { table: 'legacy', key: 2 });
    expect(untouched.fields.map((f) => [f.field, f.change, f.unknown])).toEqual([
      ['id', null, 'before_tracking'],
      ['a', null, 'before_tracking'],
      ['b', null, 'before_tracking'],
    ]);
    await expect(blame(reader.pool, 'auditrum', { table: 'legacy', key: 3 })).rejects.toThrow(
      'table public.legacy has no row with key 3, now or in its history',
    );
  });

  it('names the DELETE that ended a row and blames its fields as they were; a new row under the key starts afresh', async () => {
    await app.query('CREATE TABLE items (id int PRIMARY KEY, name text, price int)');
    await track('public.items');
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO items VALUES (1, 'pen', 2)`));
    await withAuditContext({ actor: { id: 'u2' } }, () => app.query(`UPDATE items SET price = 3 WHERE id = 1`));
    await withAuditContext({ actor: { id: 'u3' }, reason: 'discontinued' }, () =>
      app.query('DELETE FROM items WHERE id = 1'),
    );
    const [insert, price, deletion] = await recorded('items');
    const deleted = await blame(reader.pool, 'auditrum', { table: 'items', key: 1 });
    expect(deleted.deletedBy).toMatchObject({
      id: deletion?.id,
      operation: 'DELETE',
      actorId: 'u3',
      reason: 'discontinued',
    });
    expect(summary(deleted).map((f) => f.slice(0, 4))).toEqual([
      ['id', insert?.id, 'INSERT', 'u1'],
      ['name', insert?.id, 'INSERT', 'u1'],
      ['price', price?.id, 'UPDATE', 'u2'],
    ]);
    await withAuditContext({ actor: { id: 'u4' } }, () => app.query(`INSERT INTO items VALUES (1, 'ink', 5)`));
    const again = await blame(reader.pool, 'auditrum', { table: 'items', key: 1 });
    const reinsert = (await recorded('items')).at(-1);
    expect(again.deletedBy).toBeNull();
    expect(summary(again).map((f) => f.slice(0, 4))).toEqual([
      ['id', reinsert?.id, 'INSERT', 'u4'],
      ['name', reinsert?.id, 'INSERT', 'u4'],
      ['price', reinsert?.id, 'INSERT', 'u4'],
    ]);
    // A TRUNCATE ends every row of the table.
    await withAuditContext({ actor: { id: 'u5' } }, () => app.query('TRUNCATE items'));
    const truncated = await blame(reader.pool, 'auditrum', { table: 'items', key: 1 });
    expect(truncated.deletedBy).toMatchObject({ operation: 'TRUNCATE', actorId: 'u5' });
  });

  it('follows a key that an UPDATE changed back to the INSERT under the old key', async () => {
    await app.query('CREATE TABLE codes (code text PRIMARY KEY, label text, owner text)');
    await track('public.codes');
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO codes VALUES ('A', 'alpha', 'x')`));
    await withAuditContext({ actor: { id: 'u2' } }, () => app.query(`UPDATE codes SET code = 'B' WHERE code = 'A'`));
    await withAuditContext({ actor: { id: 'u3' } }, () => app.query(`UPDATE codes SET code = 'C' WHERE code = 'B'`));
    await withAuditContext({ actor: { id: 'u4' } }, () =>
      app.query(`UPDATE codes SET label = 'gamma' WHERE code = 'C'`),
    );
    const [insert, , toC, label] = await recorded('codes');
    const result = await blame(reader.pool, 'auditrum', { table: 'codes', key: 'C' });
    expect(summary(result)).toEqual([
      ['code', toC?.id, 'UPDATE', 'u3', null, null, 'B', 'C', null],
      ['label', label?.id, 'UPDATE', 'u4', null, null, 'alpha', 'gamma', null],
      ['owner', insert?.id, 'INSERT', 'u1', null, null, null, 'x', null],
    ]);
    // A new row that took the old key later is not this row's past.
    await withAuditContext({ actor: { id: 'u5' } }, () => app.query(`INSERT INTO codes VALUES ('A', 'new', 'y')`));
    const owner = await blame(reader.pool, 'auditrum', { table: 'codes', key: 'C', field: 'owner' });
    expect(owner.fields[0]?.change?.id).toBe(insert?.id);
  });

  it('follows a composite key changed one column at a time, across several UPDATEs', async () => {
    await app.query('CREATE TABLE slots (room text, day date, who text, note text, PRIMARY KEY (room, day))');
    await track('public.slots');
    await withAuditContext({ actor: { id: 'u1' } }, () =>
      app.query(`INSERT INTO slots VALUES ('r1', '2024-01-01', 'ann', 'n')`),
    );
    await withAuditContext({ actor: { id: 'u2' } }, () => app.query(`UPDATE slots SET room = 'r2'`));
    await withAuditContext({ actor: { id: 'u3' } }, () => app.query(`UPDATE slots SET day = '2024-01-02'`));
    await withAuditContext({ actor: { id: 'u4' } }, () => app.query(`UPDATE slots SET who = 'bob'`));
    const [insert, room, day, who] = await recorded('slots');
    expect(summary(await blame(reader.pool, 'auditrum', { table: 'slots', key: ['r2', '2024-01-02'] }))).toEqual([
      ['room', room?.id, 'UPDATE', 'u2', null, null, 'r1', 'r2', null],
      ['day', day?.id, 'UPDATE', 'u3', null, null, '2024-01-01', '2024-01-02', null],
      ['who', who?.id, 'UPDATE', 'u4', null, null, 'ann', 'bob', null],
      ['note', insert?.id, 'INSERT', 'u1', null, null, null, 'n', null],
    ]);
  });

  it('says why who set a field is unknown: excluded, added later, an untracked period', async () => {
    await app.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int, secret text)');
    await track('public.accounts', { exclude: ['secret'] });
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO accounts VALUES (1, 10, 's')`));
    await app.query('ALTER TABLE accounts ADD COLUMN region text DEFAULT "current_user"()');
    const [insert] = await recorded('accounts');
    expect(summary(await blame(reader.pool, 'auditrum', { table: 'accounts', key: 1 }))).toEqual([
      ['id', insert?.id, 'INSERT', 'u1', null, null, null, 1, null],
      ['balance', insert?.id, 'INSERT', 'u1', null, null, null, 10, null],
      ['secret', null, null, null, null, null, null, null, 'excluded'],
      ['region', null, null, null, null, null, null, null, 'added_later'],
    ]);
    // Not tracked for a while: a change to balance may be missing, the last recorded one is still named.
    const auditrum = createAuditrum({ pool: db.pool, partitions: false });
    await auditrum.untrack('public.accounts');
    await app.query('UPDATE accounts SET balance = 99 WHERE id = 1');
    await auditrum.track('public.accounts', { exclude: ['secret'] });
    const balance = await blame(reader.pool, 'auditrum', { table: 'accounts', key: 1, field: 'balance' });
    expect(balance.fields[0]).toMatchObject({ change: { id: insert?.id }, newValue: 10, unknown: 'untracked_gap' });
  });

  it("names the table's when rule: changes it did not keep are not in the log", async () => {
    await app.query('CREATE TABLE drafts (id int PRIMARY KEY, status text, body text)');
    await track('public.drafts', { when: "NEW.status IS DISTINCT FROM 'draft'" });
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO drafts VALUES (1, 'open', 'a')`));
    // Not recorded: the rule keeps no change to a draft.
    await withAuditContext({ actor: { id: 'u2' } }, () =>
      app.query(`UPDATE drafts SET status = 'draft', body = 'b' WHERE id = 1`),
    );
    const [insert] = await recorded('drafts');
    const result = await blame(reader.pool, 'auditrum', { table: 'drafts', key: 1, field: 'body' });
    expect(result.when).toBe("NEW.status IS DISTINCT FROM 'draft'");
    expect(result.fields[0]).toMatchObject({ change: { id: insert?.id, actorId: 'u1' }, newValue: 'a' });
  });

  it('marks an oversized value as such', async () => {
    await app.query('CREATE TABLE docs (id int PRIMARY KEY, body text)');
    await track('public.docs', { maxValueBytes: 16 });
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO docs VALUES (1, repeat('x', 100))`));
    const [field] = (await blame(reader.pool, 'auditrum', { table: 'docs', key: 1, field: 'body' })).fields;
    expect(field).toMatchObject({ oversized: true, newValue: { $auditrum: 'oversized', bytes: 100 } });
  });
});

describe('long histories, odd names, a busy pool', () => {
  it('finds a field written deep in a row of 1,000 versions, past the pages read whole', async () => {
    await app.query('CREATE TABLE meters (id int PRIMARY KEY, n int, label text, unit text)');
    await track('public.meters');
    await withAuditContext({ actor: { id: 'maker' } }, () => app.query(`INSERT INTO meters VALUES (1, 0, 'a', 'kWh')`));
    await withAuditContext({ actor: { id: 'labeller' }, requestId: 'r-label' }, () =>
      app.query(`UPDATE meters SET label = 'b' WHERE id = 1`),
    );
    // 999 more versions, one statement each, none touching label or unit.
    await withAuditContext({ actor: { id: 'counter' } }, () =>
      app.query('DO $$ BEGIN FOR i IN 1..999 LOOP UPDATE meters SET n = n + 1 WHERE id = 1; END LOOP; END $$'),
    );
    const rows = await recorded('meters');
    expect(rows).toHaveLength(1001);
    expect(summary(await blame(reader.pool, 'auditrum', { table: 'meters', key: 1 }))).toEqual([
      ['id', rows[0]?.id, 'INSERT', 'maker', null, null, null, 1, null],
      ['n', rows[1000]?.id, 'UPDATE', 'counter', null, null, 998, 999, null],
      ['label', rows[1]?.id, 'UPDATE', 'labeller', 'r-label', null, 'a', 'b', null],
      ['unit', rows[0]?.id, 'INSERT', 'maker', null, null, null, 'kWh', null],
    ]);
  });

  it('quotes table and column names that need it, also for a row with no recorded change', async () => {
    const table = 'public."Odd ""Table"""';
    await app.query(`CREATE TABLE ${table} ("Key Col" text PRIMARY KEY, "val;ue" int)`);
    await app.query(`INSERT INTO ${table} VALUES ('k''1', 1)`);
    await track(table);
    const untouched = await blame(reader.pool, 'auditrum', { table, key: "k'1" });
    expect(untouched.table).toBe(table);
    expect(untouched.fields.map((f) => [f.field, f.unknown])).toEqual([
      ['Key Col', 'before_tracking'],
      ['val;ue', 'before_tracking'],
    ]);
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`UPDATE ${table} SET "val;ue" = 2`));
    const [field] = (await blame(reader.pool, 'auditrum', { table, key: "k'1", field: 'val;ue' })).fields;
    expect(field).toMatchObject({ field: 'val;ue', oldValue: 1, newValue: 2, change: { actorId: 'u1' } });
  });

  it('reads only the values it shows: a row of large values is not read whole', async () => {
    await app.query('CREATE TABLE bulky (id int PRIMARY KEY, n int, body text)');
    await track('public.bulky');
    await withAuditContext({ actor: { id: 'u1' } }, () =>
      app.query(`INSERT INTO bulky VALUES (1, 0, repeat('a', 100000))`),
    );
    // 70 versions of a 100 kB body, then n changed: the newest 64 changes are the walk's first page.
    await withAuditContext({ actor: { id: 'writer' } }, () =>
      app.query(
        `DO $$ BEGIN FOR i IN 1..70 LOOP UPDATE bulky SET body = repeat(chr(65 + i % 26), 100000) WHERE id = 1; END LOOP; END $$`,
      ),
    );
    await withAuditContext({ actor: { id: 'counter' } }, () => app.query('UPDATE bulky SET n = 1 WHERE id = 1'));
    let bytes = 0;
    const counting = {
      query: async (text: string, values?: unknown[]) => {
        const result = await reader.pool.query(text, values);
        bytes += JSON.stringify(result.rows).length;
        return result;
      },
    } as unknown as pg.Pool;
    const n = await blame(counting, 'auditrum', { table: 'bulky', key: 1, field: 'n' });
    expect(n.fields[0]).toMatchObject({ newValue: 1, change: { actorId: 'counter' } });
    expect(bytes).toBeLessThan(20_000);
    bytes = 0;
    const whole = await blame(counting, 'auditrum', { table: 'bulky', key: 1 });
    const body = whole.fields.find((f) => f.field === 'body');
    expect([body?.change?.actorId, String(body?.newValue).length, String(body?.oldValue)[0]]).toEqual([
      'writer',
      100000,
      'R',
    ]);
    // The body's old and new value once each, not the 64 versions of the first page.
    expect(bytes).toBeLessThan(250_000);
  });

  it("needs no rights on the table for a row with history; for one without, the table's own refusal", async () => {
    await app.query('CREATE TABLE private_notes (id int PRIMARY KEY, body text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.private_notes');
    await app.query(`INSERT INTO private_notes VALUES (1, 'x')`);
    const [field] = (await blame(reader.pool, 'auditrum', { table: 'private_notes', key: 1, field: 'body' })).fields;
    expect(field).toMatchObject({ newValue: 'x', change: { operation: 'INSERT' } });
    // Key 2 has no history: telling "before tracking" from "no such row" reads the table, as the reader.
    await expect(blame(reader.pool, 'auditrum', { table: 'private_notes', key: 2 })).rejects.toMatchObject({
      code: '42501',
      message: 'permission denied for table private_notes',
    });
  });

  it('answers calls queued on a pool of one connection, each from one snapshot', async () => {
    const one = db.openPool({ max: 1 });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        blame(one, 'auditrum', { table: 'people', key: 1, field: i % 2 ? 'name' : 'note' }),
      ),
    );
    expect(results.map((r) => r.fields[0]?.field)).toEqual(['note', 'name', 'note', 'name', 'note', 'name']);
    expect(new Set(results.map((r) => r.fields[0]?.change?.id)).size).toBe(2);
    // A failing call gives its connection back: the next one is answered.
    await expect(blame(one, 'auditrum', { table: 'people', key: 'x' })).rejects.toThrow('is not a valid integer');
    expect((await blame(one, 'auditrum', { table: 'people', key: 1, field: 'note' })).fields).toHaveLength(1);
    await one.end();
  });

  it('fails cleanly, without ending the process, when its connection is terminated mid-read', async () => {
    const pool = db.openPool({ max: 2, connectionString: reader.url });
    const expected = await blame(pool, 'auditrum', { table: 'meters', key: 1 });
    const outcomes: string[] = [];
    for (let round = 0; round < 20; round++) {
      const outcome = blame(pool, 'auditrum', { table: 'meters', key: 1 }).then(
        (result) => (JSON.stringify(result) === JSON.stringify(expected) ? 'answered' : 'WRONG ANSWER'),
        // The ways a broken connection is reported: the server's 57P01, a reset socket, pg's own messages.
        (error: Error & { code?: string }) =>
          error.code === '57P01' || error.code === 'ECONNRESET' || /terminat|connection/i.test(error.message)
            ? 'failed'
            : `unexpected: ${error.message}`,
      );
      // Terminate the reader's backends while the call runs (after 0 to 2 of its queries).
      for (let wait = 0; wait < round % 3; wait++) await new Promise((resolve) => setImmediate(resolve));
      await db.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [reader.name]);
      outcomes.push(await outcome);
    }
    expect(outcomes.filter((outcome) => outcome !== 'answered' && outcome !== 'failed')).toEqual([]);
    // The pool recovers: an idle connection killed by the last round may fail one more call (the pool learns of it
    // when its socket closes), then calls are answered.
    let answer: unknown;
    for (let attempt = 0; attempt < 3 && answer === undefined; attempt++) {
      answer = await blame(pool, 'auditrum', { table: 'meters', key: 1 }).catch(() => undefined);
    }
    expect(answer).toEqual(expected);
    await pool.end();
  });
});

describe("the original's defects", () => {
  it('blames the newest change of a row with more versions than the original kept (its --limit kept the oldest 200)', async () => {
    await app.query('CREATE TABLE counters (id int PRIMARY KEY, n int, label text)');
    await track('public.counters');
    await withAuditContext({ actor: { id: 'first' } }, () => app.query(`INSERT INTO counters VALUES (1, 0, 'l')`));
    for (let i = 1; i <= 250; i++) {
      await withAuditContext({ actor: { id: `u${i}` } }, () => app.query('UPDATE counters SET n = n + 1 WHERE id = 1'));
    }
    await withAuditContext({ actor: { id: 'late' } }, () => app.query(`UPDATE counters SET label = 'm' WHERE id = 1`));
    const rows = await recorded('counters');
    expect(rows).toHaveLength(252);
    expect(summary(await blame(reader.pool, 'auditrum', { table: 'counters', key: 1 }))).toEqual([
      ['id', rows[0]?.id, 'INSERT', 'first', null, null, null, 1, null],
      ['n', rows[250]?.id, 'UPDATE', 'u250', null, null, 249, 250, null],
      ['label', rows[251]?.id, 'UPDATE', 'late', null, null, 'l', 'm', null],
    ]);
  });

  it('blames one field from the whole history (the original filtered by field after its LIMIT)', async () => {
    // Continues the row above: label changed once, as its 252nd change, after the 200 the original read.
    const rows = await recorded('counters');
    const label = await blame(reader.pool, 'auditrum', { table: 'counters', key: 1, field: 'label' });
    expect(summary(label)).toEqual([['label', rows[251]?.id, 'UPDATE', 'late', null, null, 'l', 'm', null]]);
    const id = await blame(reader.pool, 'auditrum', { table: 'counters', key: 1, field: 'id' });
    expect(summary(id)).toEqual([['id', rows[0]?.id, 'INSERT', 'first', null, null, null, 1, null]]);
  });

  it('finds rows of a table whose key is not a column named id (the original assumed it)', async () => {
    await app.query('CREATE TABLE countries (iso char(2) PRIMARY KEY, name text)');
    await track('public.countries');
    await withAuditContext({ actor: { id: 'u1' } }, () => app.query(`INSERT INTO countries VALUES ('FR', 'France')`));
    const [insert] = await recorded('countries');
    const result = await blame(reader.pool, 'auditrum', { table: 'countries', key: { iso: 'FR' } });
    expect(summary(result)).toEqual([
      ['iso', insert?.id, 'INSERT', 'u1', null, null, null, 'FR', null],
      ['name', insert?.id, 'INSERT', 'u1', null, null, null, 'France', null],
    ]);
  });
});

describe('bad input', () => {
  it.each([
    [{ table: 'nowhere', key: 1 }, 'table', 'no table "nowhere"'],
    [{ table: 'people; DROP TABLE people', key: 1 }, 'table', 'no table "people; DROP TABLE people"'],
    [{ table: '', key: 1 }, 'table', 'give a table name'],
    [{ table: 'people', key: 'abc' }, 'key', '"abc" is not a valid integer for key column id of table public.people'],
    [{ table: 'people', key: [1, 2] }, 'key', 'the key of table public.people is (id): give 1 value(s), not [1, 2]'],
    [{ table: 'people', key: null }, 'key', 'is not a row key'],
    [{ table: 'people', key: { id: { nested: 1 } } }, 'key', 'is not a row key'],
    [{ table: 'people', key: "1'); DROP TABLE people; --" }, 'key', 'is not a valid integer'],
    [{ table: 'stock', key: 'north' }, 'key', 'the key of table public.stock is (shop, sku): give 2 value(s)'],
    [
      { table: 'people', key: 1, field: 'nope' },
      'field',
      'table public.people has no column "nope" (its columns: id, name, email, note)',
    ],
    [{ table: 'people', key: 1, field: 'name"; --' }, 'field', 'has no column "name\\"; --"'],
    [{ table: 'people', key: 1, field: 7 }, 'field', 'the field to blame must be a column name'],
    [{ table: 'people', id: 1 }, 'options', 'blame() has no option id (it takes table, key, field)'],
    [null, 'options', 'blame() takes { table, key, field? }'],
    [{ table: 'people', key: 2 }, 'no_row', 'table public.people has no row with key 2, now or in its history'],
  ])('%j: %s, %s', async (options, problem, message) => {
    const refusal = blame(reader.pool, 'auditrum', options as never);
    await expect(refusal).rejects.toThrow(message);
    await expect(refusal).rejects.toMatchObject({ name: 'HistoryInputError', problem });
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM people');
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('refuses a table that is not tracked', async () => {
    await app.query('CREATE TABLE loose (id int PRIMARY KEY)');
    await app.query(`GRANT SELECT ON loose TO ${reader.name}`);
    await expect(blame(reader.pool, 'auditrum', { table: 'loose', key: 1 })).rejects.toMatchObject({
      message: 'auditrum: table public.loose is not tracked: it has no history',
      problem: 'table',
    });
  });
});

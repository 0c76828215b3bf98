import type { HistoryInputProblem, RowState } from '@auditrum/core';
import { createAuditrum, fieldHistory, HistoryInputError, parseInstant, rowAsOf } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Rows and fields as of a time: tables owned and written by a non-superuser application role, tracked by the
// schema owner, history read by the schema owner's pool.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let audit: ReturnType<typeof createAuditrum>;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  audit = createAuditrum({ pool: db.pool, partitions: false });
});

afterAll(async () => {
  await audit.close();
});

/** The database's clock now, as an ISO time with an offset: every change before it is in its past. */
async function now(): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`);
  return rows[0]?.at as string;
}

async function as(table: string, key: unknown, at: string): Promise<RowState> {
  return audit.rowAsOf({ table, key: key as never, at });
}

/** What a user reads first: did it exist, its known values, what is unknown and why. */
function seen(state: RowState) {
  return { exists: state.exists, values: state.values, unknown: state.unknown };
}

async function changeIds(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `SELECT c.id FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.table_name = $1 ORDER BY c.id`,
    [table],
  );
  return rows.map((row) => row.id);
}

describe('a row as of a time', () => {
  it('is rebuilt forwards from its INSERT, gone after its DELETE, back after its new INSERT', async () => {
    await app.query('CREATE TABLE notes (id int PRIMARY KEY, title text, body text)');
    await audit.track('notes');
    const before = await now();
    await app.query(`INSERT INTO notes VALUES (1, 'draft', 'b1')`);
    const inserted = await now();
    await app.query(`UPDATE notes SET title = 'final' WHERE id = 1`);
    await app.query(`UPDATE notes SET body = 'b2' WHERE id = 1`);
    const updated = await now();
    await app.query('DELETE FROM notes WHERE id = 1');
    const deleted = await now();
    await app.query(`INSERT INTO notes VALUES (1, 'again', NULL)`);
    const reinserted = await now();
    const ids = await changeIds('notes');

    expect(seen(await as('notes', 1, before))).toEqual({ exists: false, values: {}, unknown: [] });
    expect(await as('notes', 1, inserted)).toEqual({
      exists: true,
      rowKey: '1',
      values: { id: 1, title: 'draft', body: 'b1' },
      unknown: [],
      lastChangeId: ids[0],
      lastChangedAt: expect.any(Date),
      rebuiltFrom: 'forward',
    });
    expect(await as('notes', '1', updated)).toMatchObject({
      exists: true,
      values: { id: 1, title: 'final', body: 'b2' },
      lastChangeId: ids[2],
    });
    expect(await as('notes', [1], deleted)).toMatchObject({ exists: false, values: {}, lastChangeId: ids[3] });
    expect(await as('notes', { id: 1 }, reinserted)).toMatchObject({
      exists: true,
      values: { id: 1, title: 'again', body: null },
      rebuiltFrom: 'forward',
    });
    // The values come in the table's column order, not jsonb's.
    expect(Object.keys((await as('notes', 1, reinserted)).values)).toEqual(['id', 'title', 'body']);
  });

  it('knows a row removed by TRUNCATE is gone after it, and was there before it', async () => {
    await app.query('CREATE TABLE queue (id int PRIMARY KEY, job text)');
    await app.query(`INSERT INTO queue VALUES (1, 'before tracking')`);
    await audit.track('queue');
    await app.query(`INSERT INTO queue VALUES (2, 'tracked')`);
    await app.query(`UPDATE queue SET job = 'changed' WHERE id = 1`);
    const before = await now();
    await app.query('TRUNCATE queue');
    const after = await now();
    await app.query(`INSERT INTO queue VALUES (2, 'again')`);

    expect(seen(await as('queue', 2, before)).values).toEqual({ id: 2, job: 'tracked' });
    expect(seen(await as('queue', 1, before)).values).toEqual({ id: 1, job: 'changed' });
    expect((await as('queue', 1, after)).exists).toBe(false);
    expect((await as('queue', 2, after)).exists).toBe(false);
    const rows: string[] = [];
    for await (const row of await audit.tableAsOf({ table: 'queue', at: after })) rows.push(row.rowKey);
    expect(rows).toEqual([]);
    expect(seen(await as('queue', 2, await now())).values).toEqual({ id: 2, job: 'again' });
  });

  it('keeps what was recorded before a time when the row was removed while the table was not tracked, and not the row after it', async () => {
    await app.query('CREATE TABLE lost (id int PRIMARY KEY, job text, note text)');
    await app.query(`INSERT INTO lost VALUES (1, 'before tracking', 'n')`);
    await audit.track('lost');
    await app.query(`UPDATE lost SET job = 'recorded' WHERE id = 1`);
    const recorded = await now();
    await audit.untrack('lost');
    await app.query('DELETE FROM lost WHERE id = 1');
    await audit.track('lost');
    const afterGap = await now();

    expect(seen(await as('lost', 1, recorded))).toEqual({
      exists: true,
      values: { id: 1, job: 'recorded' },
      // Never recorded, and the gap after the time hides what a later record would have told.
      unknown: [{ column: 'note', reason: 'untracked_gap' }],
    });
    // Absent now with no DELETE recorded since tracking resumed: it went during the gap, so after it, it did not exist.
    expect(seen(await as('lost', 1, afterGap))).toEqual({ exists: false, values: {}, unknown: [] });
  });

  it('rebuilds a row inserted before tracking backwards, from the live row or from a later DELETE', async () => {
    await app.query('CREATE TABLE stock (sku text PRIMARY KEY, qty int, place text)');
    await app.query(`INSERT INTO stock VALUES ('a-1', 5, 'shelf'), ('b-2', 7, 'yard'), ('c-3', 1, 'bin')`);
    await audit.track('stock');
    const start = await now();
    await app.query(`UPDATE stock SET qty = 6 WHERE sku = 'a-1'`);
    const middle = await now();
    await app.query(`UPDATE stock SET qty = 8, place = 'back' WHERE sku = 'a-1'`);
    await app.query(`UPDATE stock SET place = 'dock' WHERE sku = 'b-2'`);
    await app.query(`DELETE FROM stock WHERE sku = 'b-2'`);

    // The key column is not called id (the original's object_id assumed it was).
    expect(await as('stock', 'a-1', start)).toMatchObject({
      exists: true,
      values: { sku: 'a-1', qty: 5, place: 'shelf' },
      unknown: [],
      lastChangeId: null,
      rebuiltFrom: 'backward',
    });
    expect(seen(await as('stock', 'a-1', middle))).toEqual({
      exists: true,
      values: { sku: 'a-1', qty: 6, place: 'shelf' },
      unknown: [],
    });
    // Deleted since: rebuilt from the DELETE's image, undoing the UPDATE in between.
    expect(await as('stock', 'b-2', middle)).toMatchObject({
      exists: true,
      values: { sku: 'b-2', qty: 7, place: 'yard' },
      rebuiltFrom: 'backward',
    });
    // Never changed: the live row is its state.
    expect(await as('stock', 'c-3', start)).toMatchObject({
      exists: true,
      values: { sku: 'c-3', qty: 1, place: 'bin' },
      rebuiltFrom: 'live',
    });
    expect(seen(await as('stock', 'zz', start))).toEqual({ exists: false, values: {}, unknown: [] });
  });

  it('follows a composite key that changed: the row is found under the key it had at that time', async () => {
    await app.query('CREATE TABLE seats (hall text, num int, holder text, PRIMARY KEY (hall, num))');
    await app.query(`INSERT INTO seats VALUES ('north', 1, 'before tracking')`);
    await audit.track('seats');
    await app.query(`INSERT INTO seats VALUES ('south', 4, 'ann')`);
    await app.query(`UPDATE seats SET holder = 'bob' WHERE hall = 'south'`);
    const first = await now();
    await app.query(`UPDATE seats SET num = 5, holder = 'cy' WHERE hall = 'south'`);
    await app.query(`UPDATE seats SET hall = 'west' WHERE hall = 'north'`);
    const moved = await now();
    await app.query(`UPDATE seats SET holder = 'dee' WHERE hall = 'south'`);
    const later = await now();

    expect(seen(await as('seats', ['south', 4], first))).toEqual({
      exists: true,
      values: { hall: 'south', num: 4, holder: 'bob' },
      unknown: [],
    });
    expect((await as('seats', ['south', 5], first)).exists).toBe(false);
    // After the key change, the old key is empty and the new key holds the row, rebuilt through the change.
    expect((await as('seats', { hall: 'south', num: 4 }, moved)).exists).toBe(false);
    expect(await as('seats', { num: 5, hall: 'south' }, moved)).toMatchObject({
      exists: true,
      rowKey: '["south", 5]',
      values: { hall: 'south', num: 5, holder: 'cy' },
      rebuiltFrom: 'forward',
    });
    expect(seen(await as('seats', ['south', '5'], later)).values).toEqual({ hall: 'south', num: 5, holder: 'dee' });
    // A row from before tracking whose key changed: its old key is rebuilt backwards through the key change.
    expect(await as('seats', ['north', 1], first)).toMatchObject({
      exists: true,
      values: { hall: 'north', num: 1, holder: 'before tracking' },
      rebuiltFrom: 'backward',
    });
    expect((await as('seats', ['north', 1], moved)).exists).toBe(false);
    expect(seen(await as('seats', ['west', 1], moved)).values).toEqual({
      hall: 'west',
      num: 1,
      holder: 'before tracking',
    });
    expect((await as('seats', ['west', 1], first)).exists).toBe(false);
    // One field's history goes back through the key change, each value under the key it was recorded with.
    const holders = await audit.fieldHistory({ table: 'seats', key: ['south', 5], field: 'holder' });
    expect(holders.map((entry) => [entry.operation, entry.rowKey, entry.value])).toEqual([
      ['INSERT', '["south", 4]', 'ann'],
      ['UPDATE', '["south", 4]', 'bob'],
      ['UPDATE', '["south", 5]', 'cy'],
      ['UPDATE', '["south", 5]', 'dee'],
    ]);
    const untilMove = await audit.fieldHistory({ table: 'seats', key: ['south', 5], field: 'holder', at: moved });
    expect(untilMove.map((entry) => entry.value)).toEqual(['ann', 'bob', 'cy']);
  });

  it("reads history under today's names: columns added, renamed, dropped and retyped over the row's life", async () => {
    await app.query('CREATE TABLE people (id int PRIMARY KEY, fullname text, age text, fax text)');
    await audit.track('people');
    await app.query(`INSERT INTO people VALUES (1, 'Ann Lee', '41', '555')`);
    const young = await now();
    await app.query('ALTER TABLE people RENAME COLUMN fullname TO name');
    await app.query(`UPDATE people SET name = 'Ann Li' WHERE id = 1`);
    const renamed = await now();
    await app.query('ALTER TABLE people DROP COLUMN fax');
    await app.query('ALTER TABLE people ALTER COLUMN age TYPE int USING age::int');
    await app.query(`ALTER TABLE people ADD COLUMN email text DEFAULT 'none'`);
    const altered = await now();
    await app.query(`UPDATE people SET email = 'ann@example.com', age = 42 WHERE id = 1`);
    const updated = await now();
    await app.query(`INSERT INTO people VALUES (2, 'Bo', 30, 'bo@example.com')`);
    const second = await now();

    // The name recorded as "fullname" is today's "name"; the dropped fax is gone; the value recorded as text
    // stays as recorded; email did not exist then.
    expect(seen(await as('people', 1, young))).toEqual({
      exists: true,
      values: { id: 1, name: 'Ann Lee', age: '41' },
      unknown: [{ column: 'email', reason: 'added_later' }],
    });
    expect(seen(await as('people', 1, renamed)).values).toEqual({ id: 1, name: 'Ann Li', age: '41' });
    // Added after the INSERT with a default that capture never saw: not known until an UPDATE records it.
    expect(seen(await as('people', 1, altered)).unknown).toEqual([{ column: 'email', reason: 'added_later' }]);
    expect(seen(await as('people', 1, updated))).toEqual({
      exists: true,
      values: { id: 1, name: 'Ann Li', age: 42, email: 'ann@example.com' },
      unknown: [],
    });
    expect(seen(await as('people', 2, second))).toEqual({
      exists: true,
      values: { id: 2, name: 'Bo', age: 30, email: 'bo@example.com' },
      unknown: [],
    });
    // One field's history under its name today, across the rename.
    const names = await audit.fieldHistory({ table: 'people', key: 1, field: 'name' });
    expect(names.map((entry) => [entry.operation, entry.value, entry.oldValue])).toEqual([
      ['INSERT', 'Ann Lee', null],
      ['UPDATE', 'Ann Li', 'Ann Lee'],
    ]);
  });

  it('reports excluded, masked and oversized values as unknown, never as values', async () => {
    await app.query('CREATE TABLE accounts (id int PRIMARY KEY, owner text, secret text, pin text, doc text)');
    await audit.track('accounts', { exclude: ['secret'], mask: ['pin'], maxValueBytes: 64 });
    await app.query(`INSERT INTO accounts VALUES (1, 'ann', 's3cret', '1234', 'short'), (2, 'bo', NULL, NULL, 'x')`);
    const small = await now();
    await app.query(`UPDATE accounts SET doc = repeat('x', 500), pin = '9999' WHERE id = 1`);
    const large = await now();

    expect(seen(await as('accounts', 1, small))).toEqual({
      exists: true,
      values: { id: 1, owner: 'ann', doc: 'short' },
      unknown: [
        { column: 'secret', reason: 'excluded' },
        { column: 'pin', reason: 'masked' },
      ],
    });
    expect(seen(await as('accounts', 1, large))).toEqual({
      exists: true,
      values: { id: 1, owner: 'ann' },
      unknown: [
        { column: 'secret', reason: 'excluded' },
        { column: 'pin', reason: 'masked' },
        { column: 'doc', reason: 'oversized' },
      ],
    });
    // A masked NULL is recorded as NULL: it is known.
    expect(seen(await as('accounts', 2, small)).values).toEqual({ id: 2, owner: 'bo', pin: null, doc: 'x' });
    const pins = await audit.fieldHistory({ table: 'accounts', key: 1, field: 'pin' });
    expect(pins.map((entry) => [entry.operation, entry.value, entry.unknown])).toEqual([
      ['INSERT', null, 'masked'],
      ['UPDATE', null, 'masked'],
    ]);
    const secrets = await audit.fieldHistory({ table: 'accounts', key: 1, field: 'secret' });
    expect(secrets.map((entry) => [entry.operation, entry.unknown])).toEqual([['INSERT', 'excluded']]);
  });

  it('marks values across an untracked gap as unknown, and knows them again once recorded', async () => {
    await app.query('CREATE TABLE lamps (id int PRIMARY KEY, color text, watts int)');
    await audit.track('lamps');
    await app.query(`INSERT INTO lamps VALUES (1, 'red', 40)`);
    const tracked = await now();
    await audit.untrack('lamps');
    await app.query(`UPDATE lamps SET color = 'blue'`);
    await audit.track('lamps');
    const afterGap = await now();
    await app.query(`UPDATE lamps SET watts = 60`);
    const recorded = await now();

    expect(seen(await as('lamps', 1, tracked)).values).toEqual({ id: 1, color: 'red', watts: 40 });
    expect(seen(await as('lamps', 1, afterGap))).toEqual({
      exists: true,
      values: { id: 1 },
      unknown: [
        { column: 'color', reason: 'untracked_gap' },
        { column: 'watts', reason: 'untracked_gap' },
      ],
    });
    expect(seen(await as('lamps', 1, recorded))).toEqual({
      exists: true,
      values: { id: 1, watts: 60 },
      unknown: [{ column: 'color', reason: 'untracked_gap' }],
    });
  });

  it("rebuilds any of a row's 1,000 versions, and lists the field's 1,000 values", async () => {
    await app.query('CREATE TABLE counters (id int PRIMARY KEY, n int, label text)');
    await audit.track('counters');
    await app.query(`INSERT INTO counters VALUES (1, 0, 'start')`);
    const marks: string[] = [];
    for (let version = 1; version < 1000; version++) {
      await app.query('UPDATE counters SET n = $1 WHERE id = 1', [version]);
      if (version % 250 === 0) marks.push(await now());
    }
    for (const [i, at] of marks.entries()) {
      expect(seen(await as('counters', 1, at))).toEqual({
        exists: true,
        values: { id: 1, n: (i + 1) * 250, label: 'start' },
        unknown: [],
      });
    }
    const values = await audit.fieldHistory({ table: 'counters', key: 1, field: 'n' });
    expect(values.map((entry) => entry.value)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('gives, for a busy row read from its newest changes, the row the whole table gives, at every time', async () => {
    // The row's second life (DELETE, then INSERT again) with an oversized value, a column added midway and a
    // column written once among 150 versions: a row as of a time merges only the changes that decide it.
    await app.query('CREATE TABLE meters (id int PRIMARY KEY, reading int, site text, doc text)');
    await audit.track('meters', { maxValueBytes: 64 });
    await app.query(`INSERT INTO meters VALUES (1, 0, 'north', 'a'), (2, 0, 'south', 'b')`);
    const marks = [await now()];
    await app.query('DELETE FROM meters WHERE id = 1');
    marks.push(await now());
    await app.query(`INSERT INTO meters VALUES (1, 0, 'east', repeat('x', 500))`);
    for (let version = 1; version <= 150; version++) {
      await app.query('UPDATE meters SET reading = $1 WHERE id = 1', [version]);
      if (version === 20) await app.query(`UPDATE meters SET site = 'west' WHERE id = 1`);
      if (version === 60) await app.query(`UPDATE meters SET doc = 'short' WHERE id = 1`);
      if (version === 90) await app.query('ALTER TABLE meters ADD COLUMN unit text');
      if (version === 120) await app.query(`UPDATE meters SET unit = 'kWh' WHERE id = 1`);
      if (version % 15 === 0) marks.push(await now());
    }
    const expected = [
      { exists: true, values: { id: 1, reading: 0, site: 'north', doc: 'a' } },
      { exists: false, values: {} },
    ];
    for (const [i, at] of marks.entries()) {
      const row = await as('meters', 1, at);
      const inTable: unknown[] = [];
      for await (const state of await audit.tableAsOf({ table: 'meters', at })) {
        if (state.rowKey === '1') inTable.push({ ...state, exists: true });
      }
      expect(inTable.length === 0 ? { ...row, exists: false } : row).toEqual(inTable[0] ?? row);
      expect(row.exists).toBe(i !== 1);
      if (i < 2) expect(seen(row)).toMatchObject(expected[i] as object);
    }
    expect(seen(await as('meters', 1, marks[2] as string))).toEqual({
      exists: true,
      values: { id: 1, reading: 15, site: 'east' },
      unknown: [
        { column: 'doc', reason: 'oversized' },
        { column: 'unit', reason: 'added_later' },
      ],
    });
    expect(seen(await as('meters', 1, marks.at(-1) as string))).toEqual({
      exists: true,
      values: { id: 1, reading: 150, site: 'west', doc: 'short', unit: 'kWh' },
      unknown: [],
    });
  });

  it("reads a time given with an offset as that instant, whatever the session's time zone", async () => {
    await app.query('CREATE TABLE clocks (id int PRIMARY KEY, v text)');
    await audit.track('clocks');
    await app.query(`INSERT INTO clocks VALUES (1, 'one')`);
    const { rows } = await db.pool.query<{ changed_at: Date }>(
      `SELECT changed_at FROM auditrum.change_log WHERE table_name = 'clocks'`,
    );
    const changedAt = rows[0]?.changed_at as Date;
    // One millisecond after the INSERT, written in UTC and as New York time (UTC-4 or -5) and Tokyo time.
    const after = new Date(changedAt.getTime() + 1);
    const beforeIt = new Date(changedAt.getTime() - 1);
    const shifted = (date: Date, hours: number) => {
      const local = new Date(date.getTime() + hours * 3600_000).toISOString().slice(0, -1);
      const sign = hours < 0 ? '-' : '+';
      return `${local}${sign}${String(Math.abs(hours)).padStart(2, '0')}:00`;
    };
    const elsewhere = db.openPool({ options: '-c timezone=Pacific/Kiritimati' });
    try {
      for (const reader of [db.pool, elsewhere]) {
        for (const at of [after.toISOString(), shifted(after, -5), shifted(after, 9), after]) {
          expect((await rowAsOf(reader, 'auditrum', { table: 'clocks', key: 1, at })).exists, String(at)).toBe(true);
        }
        for (const at of [beforeIt.toISOString(), shifted(beforeIt, -5), shifted(beforeIt, 9)]) {
          expect((await rowAsOf(reader, 'auditrum', { table: 'clocks', key: 1, at })).exists, at).toBe(false);
        }
      }
    } finally {
      await elsewhere.end();
    }
  });
});

describe('hostile names', () => {
  it('reads a table and columns named like SQL, with quotes, percent signs and dollar numbers', async () => {
    await db.pool.query(`CREATE SCHEMA "we""ird" AUTHORIZATION ${pg.escapeIdentifier(role.name)}`);
    await app.query(
      `CREATE TABLE "we""ird"."t; DROP TABLE x" ("k$1" int, "%s%I" text, "a""b" text, "$1" text, PRIMARY KEY ("k$1"))`,
    );
    await app.query(`INSERT INTO "we""ird"."t; DROP TABLE x" VALUES (1, 'before', 'q', 'd')`);
    const table = `"we""ird"."t; DROP TABLE x"`;
    await audit.track(table, { mask: ['$1'] });
    const before = await now();
    await app.query(`UPDATE "we""ird"."t; DROP TABLE x" SET "%s%I" = 'after', "a""b" = 'r' WHERE "k$1" = 1`);
    await app.query(`ALTER TABLE "we""ird"."t; DROP TABLE x" RENAME COLUMN "a""b" TO "c'd"`);
    await app.query(`INSERT INTO "we""ird"."t; DROP TABLE x" VALUES (2, 'two', 's', NULL)`);
    const after = await now();

    expect(seen(await as(table, { k$1: 1 }, before))).toEqual({
      exists: true,
      values: { k$1: 1, '%s%I': 'before', "c'd": 'q' },
      unknown: [{ column: '$1', reason: 'masked' }],
    });
    expect(seen(await as(table, 1, after)).values).toEqual({ k$1: 1, '%s%I': 'after', "c'd": 'r' });
    const rows = new Map<string, unknown>();
    for await (const row of await audit.tableAsOf({ table, at: after })) rows.set(row.rowKey, row.values);
    expect(rows).toEqual(
      new Map<string, unknown>([
        ['1', { k$1: 1, '%s%I': 'after', "c'd": 'r' }],
        ['2', { k$1: 2, '%s%I': 'two', "c'd": 's', $1: null }],
      ]),
    );
    const renamed = await audit.fieldHistory({ table, key: 1, field: "c'd" });
    expect(renamed.map((entry) => entry.value)).toEqual(['r']);
  });
});

describe('hostile values', () => {
  it("returns a json column's object shaped like an unknown marker as the value it is", async () => {
    await app.query('CREATE TABLE docs (id int PRIMARY KEY, body jsonb, note json)');
    const fake = { $auditrum: 'unknown', reason: 'masked' };
    const wrapped = { $auditrum: 'value', value: 1 };
    await app.query('INSERT INTO docs VALUES (1, $1, $2)', [fake, wrapped]);
    await audit.track('docs');
    const before = await now();
    await app.query('UPDATE docs SET body = $1 WHERE id = 1', [wrapped]);
    await app.query('INSERT INTO docs VALUES (2, $1, $2)', [fake, fake]);
    const after = await now();

    expect(seen(await as('docs', 1, before))).toEqual({
      exists: true,
      values: { id: 1, body: fake, note: wrapped },
      unknown: [],
    });
    expect(seen(await as('docs', 1, after)).values).toEqual({ id: 1, body: wrapped, note: wrapped });
    expect(seen(await as('docs', 2, after))).toEqual({
      exists: true,
      values: { id: 2, body: fake, note: fake },
      unknown: [],
    });
    const rows = new Map<string, unknown>();
    for await (const row of await audit.tableAsOf({ table: 'docs', at: after }))
      rows.set(row.rowKey, [row.values, row.unknown]);
    expect(rows.get('1')).toEqual([{ id: 1, body: wrapped, note: wrapped }, []]);
    expect(rows.get('2')).toEqual([{ id: 2, body: fake, note: fake }, []]);
    const bodies = await audit.fieldHistory({ table: 'docs', key: 1, field: 'body' });
    expect(bodies.map((entry) => [entry.value, entry.oldValue, entry.unknown])).toEqual([[wrapped, fake, null]]);
  });
});

describe('bad input', () => {
  beforeAll(async () => {
    await app.query('CREATE TABLE plain (id int PRIMARY KEY, v text)');
    await app.query('CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b))');
    await app.query('CREATE TABLE untracked (id int PRIMARY KEY)');
    await audit.track('plain');
    await audit.track('pairs');
  });

  it("refuses a time without a zone, naming it, and never reads it in the server's zone", async () => {
    for (const at of ['2024-05-01T10:00:00', '2024-05-01 10:00', '2024-05-01']) {
      await expect(audit.rowAsOf({ table: 'plain', key: 1, at })).rejects.toThrow(
        `auditrum: the time "at" ${JSON.stringify(at)} has no time zone; add Z or an offset such as +02:00`,
      );
    }
    for (const at of ['yesterday', '2024-13-01T00:00:00Z', '2024-02-30T10:00:00Z', '2024-05-01T25:00:00Z']) {
      await expect(audit.rowAsOf({ table: 'plain', key: 1, at })).rejects.toThrow(HistoryInputError);
    }
    await expect(audit.rowAsOf({ table: 'plain', key: 1, at: new Date(Number.NaN) })).rejects.toThrow(
      'auditrum: the time "at" is an invalid Date',
    );
    await expect(audit.tableAsOf({ table: 'plain', at: '2024-05-01T10:00:00' })).rejects.toThrow('has no time zone');
    expect(parseInstant('2024-05-01T10:00:00.123456+02:00')).toBe('2024-05-01T10:00:00.123456+02:00');
    expect(parseInstant('2024-05-01T10:00:00+0530')).toBe('2024-05-01T10:00:00+0530');
  });

  it('refuses an unknown or untracked table, a key of the wrong shape, an unknown field or option', async () => {
    const at = new Date();
    const cases: [() => Promise<unknown>, string, HistoryInputProblem][] = [
      [() => audit.rowAsOf({ table: 'nope', key: 1, at }), 'auditrum: table "nope" does not exist', 'table'],
      [
        () => audit.rowAsOf({ table: 'nowhere.plain', key: 1, at }),
        'auditrum: table "nowhere.plain" does not exist',
        'table',
      ],
      [
        () => audit.rowAsOf({ table: '"bad', key: 1, at }),
        'auditrum: table "\\"bad" is not a valid table name',
        'table',
      ],
      [
        () => audit.rowAsOf({ table: 'untracked', key: 1, at }),
        'auditrum: table public.untracked is not tracked',
        'table',
      ],
      [
        () => audit.rowAsOf({ table: '', key: 1, at }),
        'auditrum: rowAsOf() needs the table\'s name (option "table")',
        'table',
      ],
      [
        () => audit.rowAsOf({ table: 'pairs', key: 1, at }),
        'auditrum: the key of table public.pairs is (a, b): give 2 value(s), not 1',
        'key',
      ],
      [
        () => audit.rowAsOf({ table: 'plain', key: 'x', at }),
        'auditrum: "x" is not a valid integer for key column id of table public.plain',
        'key',
      ],
      [
        () => audit.rowAsOf({ table: 'plain', key: { nope: 1 } as never, at }),
        'auditrum: the key of table public.plain is (id)',
        'key',
      ],
      [() => audit.rowAsOf({ table: 'plain', key: [] as never, at }), 'auditrum: the key [] is not a row key', 'key'],
      [
        () => audit.rowAsOf({ table: 'plain', key: null as never, at }),
        'auditrum: the key null is not a row key',
        'key',
      ],
      [() => audit.rowAsOf({ table: 'plain', key: [{}] as never, at }), 'is not a row key', 'key'],
      [
        () => audit.rowAsOf({ table: 'plain', at } as never),
        'auditrum: rowAsOf() needs the row\'s key (option "key")',
        'key',
      ],
      [
        () => audit.rowAsOf({ table: 'plain', key: 1, at, when: at } as never),
        'auditrum: unknown option "when" of rowAsOf()',
        'options',
      ],
      [
        () => audit.fieldHistory({ table: 'plain', key: 1, field: 'nope' }),
        'auditrum: table public.plain has no column nope',
        'field',
      ],
      [
        () => audit.fieldHistory({ table: 'plain', key: 1, field: '' }),
        "auditrum: fieldHistory() needs the column's name",
        'field',
      ],
      [
        () => fieldHistory(db.pool, 'auditrum', 'plain' as never),
        'auditrum: fieldHistory() takes an options object',
        'options',
      ],
      [() => audit.tableAsOf({ table: 'untracked', at }), 'auditrum: table public.untracked is not tracked', 'table'],
      [
        () => audit.tableAsOf({ table: 'plain; DROP TABLE plain', at }),
        'auditrum: table "plain; DROP TABLE plain"',
        'table',
      ],
    ];
    for (const [attempt, message, problem] of cases) {
      const error = await attempt().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error, message).toBeInstanceOf(HistoryInputError);
      expect((error as Error).message, message).toContain(message);
      expect((error as HistoryInputError).problem, message).toBe(problem);
    }
    // The identifiers were never run as SQL.
    expect((await db.pool.query(`SELECT to_regclass('plain') IS NOT NULL AS present`)).rows[0].present).toBe(true);
  });

  it('refuses bad arguments to the SQL functions with a clear error', async () => {
    const cases: [string, unknown[], string][] = [
      ['SELECT * FROM auditrum.row_as_of($1, $2, $3)', ['plain', '1', 'infinity'], 'give a finite time'],
      ['SELECT * FROM auditrum.row_as_of($1, $2, $3)', ['plain', '1', null], 'give a finite time'],
      ['SELECT * FROM auditrum.row_as_of($1, $2, $3)', ['plain', null, new Date()], 'give the key of a row'],
      ['SELECT * FROM auditrum.table_as_of($1, $2)', [null, new Date()], 'give the table whose history to read'],
      [
        'SELECT * FROM auditrum.field_history($1, $2, $3)',
        ['plain', '1', null],
        'auditrum: table public.plain has no column NULL',
      ],
      [
        'SELECT * FROM auditrum.field_history($1, $2, $3)',
        ['plain', '1', 'a"b'],
        'auditrum: table public.plain has no column "a""b"',
      ],
    ];
    for (const [sql, params, message] of cases) {
      await expect(db.pool.query(sql, params), message).rejects.toThrow(message);
    }
  });
});

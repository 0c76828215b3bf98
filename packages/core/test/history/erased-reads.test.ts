import type { Auditrum, TableRowState } from '@auditrum/core';
import { contextComment, createAuditrum, ERASED_VALUE } from '@auditrum/core';
import type {
  AdminHandler,
  BlameResponse,
  ChangeResponse,
  ChangesResponse,
  FieldHistoryResponse,
  HistoryResponse,
  RowAsOfResponse,
  TableAsOfResponse,
} from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from '../run-cli.js';
import { runCli } from '../run-cli.js';
import { useHistoryReader } from './blame-reader.js';

// An erasure replaces a person's values in the log with a marker. Every history reader must report such a value as
// unknown (reason erased), never as a value that reads '[erased]', and tell it from a real value with the same text
// by erased_changes. The application's non-superuser role owns and writes the table; a non-superuser reader of the
// log reads it; the schema's owner tracks it and erases.
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let owner: Auditrum;
let audit: Auditrum;
let admin: AdminHandler<unknown>;
const adminErrors: unknown[] = [];
/** After the rows were inserted, before any update. */
let inserted: string;
/** After the updates, before row 4 was deleted. */
let updated: string;

const ERASED = { column: 'email', reason: 'erased' };

async function now(): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`);
  return rows[0]?.at as string;
}

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(['as-of', ...args], { env: { DATABASE_URL: reader.url }, cwd: process.cwd() });
}

async function eraseEmail(key: number): Promise<void> {
  await owner.erase({ subject: { table: 'public.people', key, columns: ['email'] }, reason: `GDPR request ${key}` });
}

beforeAll(async () => {
  const app = role.openPool({ max: 1 });
  app.on('error', () => undefined);
  owner = createAuditrum({ pool: db.pool, partitions: false });
  audit = createAuditrum({ pool: reader.pool, partitions: false });
  await app.query('CREATE TABLE people (id int PRIMARY KEY, email text, city text)');
  // Row 3 was there before tracking began: its state before its update is rebuilt backwards.
  await app.query(`INSERT INTO people VALUES (3, 'carol@old.example', 'Wien')`);
  await owner.track('public.people');
  await app.query(`INSERT INTO people VALUES (1, 'alice@old.example', 'Graz'), (4, 'dave@example', 'Bern')`);
  // A real value that reads like the marker: no erasure touched it.
  await app.query('INSERT INTO people VALUES (2, $1, $2)', [ERASED_VALUE, ERASED_VALUE]);
  // Bob's row: an erasure of its actor replaces who wrote it, never its values.
  await app.query(
    `${contextComment({ actor: { id: 'bob-1' }, source: 'http' })} INSERT INTO people VALUES (5, 'bob@example', 'Linz')`,
  );
  inserted = await now();
  await app.query(`UPDATE people SET email = 'alice@new.example', city = 'Linz' WHERE id = 1`);
  await app.query(`UPDATE people SET email = 'carol@new.example' WHERE id = 3`);
  updated = await now();
  await app.query('DELETE FROM people WHERE id = 4');
  await app.query(`GRANT SELECT ON people TO ${pg.escapeIdentifier(reader.name)}`);
  await app.end();
  for (const key of [1, 3, 4]) await eraseEmail(key);
  await owner.erase({ subject: { actorId: 'bob-1' }, reason: 'GDPR request 5' });
  admin = createAdminRoutes({ pool: reader.pool, authorize: () => true, onError: (error) => adminErrors.push(error) });
});
afterAll(async () => {
  expect(adminErrors).toEqual([]);
  await audit.close();
  await owner.close();
});

/** Rows 1 to 5 as they were just after the inserts, as every table reader must give them. */
const ROWS_INSERTED = [
  { rowKey: '1', exists: true, values: { id: 1, city: 'Graz' }, unknown: [ERASED], rebuiltFrom: 'forward' },
  {
    rowKey: '2',
    exists: true,
    values: { id: 2, email: ERASED_VALUE, city: ERASED_VALUE },
    unknown: [],
    rebuiltFrom: 'forward',
  },
  { rowKey: '3', exists: true, values: { id: 3, city: 'Wien' }, unknown: [ERASED], rebuiltFrom: 'backward' },
  { rowKey: '4', exists: true, values: { id: 4, city: 'Bern' }, unknown: [ERASED], rebuiltFrom: 'forward' },
  {
    rowKey: '5',
    exists: true,
    values: { id: 5, email: 'bob@example', city: 'Linz' },
    unknown: [],
    rebuiltFrom: 'forward',
  },
];

function byKey<T extends { rowKey: string }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => a.rowKey.localeCompare(b.rowKey));
}

describe('erased values read as unknown (reason erased)', () => {
  it('rowAsOf: forwards, backwards and now; a lookalike value and an erased actor’s values stay values', async () => {
    const state = (key: number, at: string) => audit.rowAsOf({ table: 'people', key, at });
    const rows = await Promise.all([1, 2, 3, 4, 5].map((key) => state(key, inserted)));
    expect(rows.map(({ lastChangeId, lastChangedAt, ...row }) => row)).toEqual(ROWS_INSERTED);
    expect(await state(1, await now())).toMatchObject({
      values: { id: 1, city: 'Linz' },
      unknown: [ERASED],
      rebuiltFrom: 'forward',
    });
    // Carol's row now: the live row (the log's erasure does not reach the table itself).
    expect(await state(3, await now())).toMatchObject({
      values: { id: 3, email: 'carol@new.example', city: 'Wien' },
      unknown: [],
    });
  });

  it('tableAsOf (streamed), table_as_of_page and both whole-table queries give the same rows', async () => {
    const streamed: TableRowState[] = [];
    for await (const row of await audit.tableAsOf({ table: 'people', at: inserted })) streamed.push(row);
    expect(byKey(streamed).map(({ lastChangeId, lastChangedAt, ...row }) => row)).toEqual(ROWS_INSERTED);

    const page = await reader.pool.query(
      `SELECT row_key AS "rowKey", "exists", "values", unknown, rebuilt_from AS "rebuiltFrom"
       FROM auditrum.table_as_of_page('people', $1, NULL, NULL, 10)`,
      [inserted],
    );
    expect(page.rows).toEqual(ROWS_INSERTED);

    // The backward rebuild (live rows and the changes after the time) and history's general query.
    for (const builder of ['_history_table_backward_sql', '_history_table_general_sql']) {
      const client = await reader.pool.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        const { rows: sql } = await client.query<{ q: string }>(`SELECT auditrum.${builder}('people', $1) AS q`, [
          inserted,
        ]);
        const { rows } = await client.query(
          `SELECT row_key AS "rowKey", "exists", "values"::jsonb, unknown, rebuilt_from AS "rebuiltFrom"
           FROM (${sql[0]?.q}) s`,
        );
        await client.query('COMMIT');
        expect({ builder, rows: byKey(rows) }).toEqual({ builder, rows: ROWS_INSERTED });
      } finally {
        client.release();
      }
    }
  });

  it('a row whose key changed after the erasure keeps its erased value unknown under its new key', async () => {
    const app = role.openPool({ max: 1 });
    app.on('error', () => undefined);
    try {
      await app.query(`CREATE TABLE movers (id int PRIMARY KEY, email text, city text)`);
      await owner.track('public.movers');
      await app.query(`INSERT INTO movers VALUES (6, 'erin@example', 'Graz')`);
      await owner.erase({ subject: { table: 'public.movers', key: 6, columns: ['email'] }, reason: 'GDPR request 6' });
      await app.query('UPDATE movers SET id = 16 WHERE id = 6');
      await app.query(`UPDATE movers SET city = 'Wien' WHERE id = 16`);
      await app.query(`GRANT SELECT ON movers TO ${pg.escapeIdentifier(reader.name)}`);
    } finally {
      await app.end();
    }
    const at = await now();
    const expected = { rowKey: '16', values: { id: 16, city: 'Wien' }, unknown: [ERASED], rebuiltFrom: 'forward' };
    expect(await audit.rowAsOf({ table: 'movers', key: 16, at })).toMatchObject(expected);
    const rows: TableRowState[] = [];
    for await (const row of await audit.tableAsOf({ table: 'movers', at })) rows.push(row);
    expect(rows).toMatchObject([expected]);
    const general = await reader.pool.query<{ q: string }>(
      `SELECT auditrum._history_table_general_sql('movers', $1) AS q`,
      [at],
    );
    const { rows: generalRows } = await reader.pool.query(
      `SELECT row_key AS "rowKey", "values"::jsonb, unknown, rebuilt_from AS "rebuiltFrom" FROM (${general.rows[0]?.q}) s`,
    );
    expect(generalRows).toEqual([expected]);
  });

  it('fieldHistory: an erased value is null with unknown erased; who changed it and when stay known', async () => {
    const history = await audit.fieldHistory({ table: 'people', key: 1, field: 'email' });
    expect(history.map(({ changedAt, changeId, requestId, ...entry }) => entry)).toEqual([
      { operation: 'INSERT', value: null, oldValue: null, unknown: 'erased', rowKey: '1', actorId: null, reason: null },
      { operation: 'UPDATE', value: null, oldValue: null, unknown: 'erased', rowKey: '1', actorId: null, reason: null },
    ]);
    const city = await audit.fieldHistory({ table: 'people', key: 1, field: 'city' });
    expect(city.map((entry) => [entry.value, entry.oldValue, entry.unknown])).toEqual([
      ['Graz', null, null],
      ['Linz', 'Graz', null],
    ]);
    const lookalike = await audit.fieldHistory({ table: 'people', key: 2, field: 'email' });
    expect(lookalike.map((entry) => [entry.value, entry.unknown])).toEqual([[ERASED_VALUE, null]]);
  });

  it('auditrum as-of prints an erased value as unknown in JSON and CSV, a lookalike as its value', async () => {
    const json = await cli(['people', inserted, '--key', '1']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(json.stdout)).toMatchObject([{ values: { id: 1, city: 'Graz' }, unknown: [ERASED] }]);
    const csv = await cli(['people', inserted, '--format', 'csv']);
    expect(csv).toMatchObject({ code: 0, stderr: '' });
    expect(csv.stdout.split('\n').sort()).toEqual(
      [
        '',
        'id,email,city,unknown',
        '1,,Graz,email:erased',
        `2,${ERASED_VALUE},${ERASED_VALUE},`,
        '3,,Wien,email:erased',
        '4,,Bern,email:erased',
        '5,bob@example,Linz,',
      ].sort(),
    );
    const field = await cli(['people', updated, '--key', '1', '--field', 'email', '--format', 'csv']);
    expect(
      field.stdout
        .split('\n')
        .slice(1, 3)
        .map((line) => line.split(',').slice(2, 7)),
    ).toEqual([
      ['INSERT', '1', '', '', 'erased'],
      ['UPDATE', '1', '', '', 'erased'],
    ]);
  });

  it('blame: who set an erased field and when stay known, its value is not (null, erased)', async () => {
    const blame = await audit.blame({ table: 'people', key: 1 });
    expect(
      blame.fields.map(({ field, change, oldValue, newValue, erased, unknown }) => ({
        field,
        operation: change?.operation,
        oldValue,
        newValue,
        erased,
        unknown,
      })),
    ).toEqual([
      { field: 'id', operation: 'INSERT', oldValue: null, newValue: 1, erased: false, unknown: null },
      { field: 'email', operation: 'UPDATE', oldValue: null, newValue: null, erased: true, unknown: null },
      { field: 'city', operation: 'UPDATE', oldValue: 'Graz', newValue: 'Linz', erased: false, unknown: null },
    ]);
    const lookalike = await audit.blame({ table: 'people', key: 2, field: 'email' });
    expect(lookalike.fields).toMatchObject([{ newValue: ERASED_VALUE, erased: false }]);
    const printed = await runCli(['blame', 'people', '1', 'email'], {
      env: { DATABASE_URL: reader.url },
      cwd: process.cwd(),
    });
    expect(printed).toMatchObject({ code: 0, stderr: '' });
    expect(printed.stdout).toMatch(/^email +\d+ UPDATE .*\(erased on request: value not kept\)$/m);
    expect(printed.stdout).not.toContain(ERASED_VALUE);
  });
});

describe('a reader that may not read erasures', () => {
  const limited = useHistoryReader(db);

  it('still reads history: the marker as stored, as before erasures were told apart (docs name the grants)', async () => {
    await db.pool.query(`REVOKE SELECT ON auditrum.erasures FROM ${pg.escapeIdentifier(limited.name)}`);
    await db.pool.query(`GRANT SELECT ON people TO ${pg.escapeIdentifier(limited.name)}`);
    const { rows } = await limited.pool.query(`SELECT "values", unknown FROM auditrum.row_as_of('people', '1', $1)`, [
      inserted,
    ]);
    expect(rows).toEqual([{ values: { id: 1, email: ERASED_VALUE, city: 'Graz' }, unknown: [] }]);
  });
});

describe('the admin API: erased values are null and listed, or unknown with reason erased', () => {
  async function json<T>(path: string, query: Record<string, string> = {}): Promise<T> {
    const response = await admin({
      method: 'GET',
      path,
      query: new URLSearchParams(query),
      headers: {},
      basePath: '/audit-admin',
      raw: {},
    });
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${String(response.body)}`);
    return JSON.parse(response.body as string) as T;
  }

  it('api/changes, api/changes/:id and api/history: null and listed in erased; the lookalike as its value', async () => {
    const { items } = await json<ChangesResponse>('api/changes', { table: 'public.people' });
    const update = items.find((change) => change.rowKey === '1' && change.operation === 'UPDATE');
    expect(update).toMatchObject({
      oldValues: { email: null, city: 'Graz' },
      newValues: { email: null, city: 'Linz' },
      changedColumns: ['city', 'email'],
      erased: { old: ['email'], new: ['email'] },
    });
    expect((await json<ChangeResponse>(`api/changes/${update?.id}`)).change).toEqual(update);
    const lookalike = items.find((change) => change.rowKey === '2');
    expect(lookalike).toMatchObject({ newValues: { email: ERASED_VALUE, city: ERASED_VALUE }, erased: null });
    // Bob's change: his actor id erased, his row's values not.
    expect(items.find((change) => change.rowKey === '5')).toMatchObject({
      actor: { id: expect.stringMatching(/^erased:\d+$/) },
      newValues: { email: 'bob@example' },
      erased: null,
    });

    const history = await json<HistoryResponse>('api/history', { table: 'public.people', key: '4', at: updated });
    expect(history.versions.map((version) => [version.change.operation, version.state, version.erased])).toEqual([
      ['INSERT', { id: 4, email: null, city: 'Bern' }, ['email']],
      ['DELETE', null, []],
    ]);
    expect(history.versions[1]?.change.oldValues).toEqual({ id: 4, email: null, city: 'Bern' });
    expect([history.stateAt, history.stateAtErased]).toEqual([{ id: 4, email: null, city: 'Bern' }, ['email']]);
  });

  it('api/row-as-of, api/table-as-of, api/field-history and api/blame', async () => {
    expect(
      await json<RowAsOfResponse>('api/row-as-of', { table: 'public.people', key: '4', at: inserted }),
    ).toMatchObject({ exists: true, values: { id: 4, city: 'Bern' }, unknown: [ERASED] });
    const table = await json<TableAsOfResponse>('api/table-as-of', { table: 'public.people', at: inserted });
    expect(table.items.map(({ rowKey, values, unknown }) => ({ rowKey, values, unknown }))).toEqual(
      ROWS_INSERTED.map(({ rowKey, values, unknown }) => ({ rowKey, values, unknown })),
    );
    const field = await json<FieldHistoryResponse>('api/field-history', {
      table: 'public.people',
      key: '4',
      field: 'email',
    });
    expect(field.entries.map((entry) => [entry.operation, entry.value, entry.oldValue, entry.unknown])).toEqual([
      ['INSERT', null, null, 'erased'],
      ['DELETE', null, null, null],
    ]);
    const blame = await json<BlameResponse>('api/blame', { table: 'public.people', key: '4', field: 'email' });
    expect(blame).toMatchObject({
      fields: [{ field: 'email', change: { operation: 'INSERT' }, newValue: null, erased: true }],
      deletedBy: { operation: 'DELETE' },
    });
  });
});

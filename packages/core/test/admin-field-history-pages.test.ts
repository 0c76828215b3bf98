import { createAuditrum, HistoryInputError } from '@auditrum/core';
import type { FieldHistoryItem, FieldHistoryResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRead } from './admin-read.js';

// A field's history in pages (migration 42: field_history() takes `until`, `before_id` and `max_entries`): the pages,
// newest first and each oldest first, followed by their cursors, are every value the whole history gives, for a row
// whose key changed (its values before under the old key), with changes that did not touch the field between, an
// erased value, and with `at`. Bad cursors and limits are refused naming the parameter. Read as a non-superuser role
// that owns the table and may read the log.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const audit = () => createAuditrum({ pool: db.pool, partitions: false });

async function call(query: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const admin = createAdminRoutes({ pool: app, authorize: () => true });
  const response = await admin({
    method: 'GET',
    path: 'api/field-history',
    query: new URLSearchParams({ table: 'public.items', key: '5', field: 'status', ...query }),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  });
  return { status: response.status, body: JSON.parse(String(response.body)) };
}

/** Every page from the newest, following nextCursor, put back in oldest-first order. */
async function allPages(query: Record<string, string>): Promise<{ entries: FieldHistoryItem[]; pages: number }> {
  const pages: FieldHistoryItem[][] = [];
  let cursor: string | null = null;
  do {
    const page: FieldHistoryResponse = await adminRead(app, 'api/field-history', {
      table: 'public.items',
      key: '5',
      field: 'status',
      ...query,
      ...(cursor === null ? {} : { cursor }),
    });
    pages.push(page.entries);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return { entries: pages.reverse().flat(), pages: pages.length };
}

/** The whole history as the library gives it (no page), as the API shows each entry. */
async function whole(at?: string): Promise<string[]> {
  const entries = await createAuditrum({ pool: app, partitions: false }).fieldHistory({
    table: 'public.items',
    key: 5,
    field: 'status',
    ...(at === undefined ? {} : { at }),
  });
  return entries.map((e) => `${e.changeId} ${e.operation} ${JSON.stringify(e.value)} ${e.unknown} ${e.rowKey}`);
}

const shown = (entries: FieldHistoryItem[]) =>
  entries.map((e) => `${e.changeId} ${e.operation} ${JSON.stringify(e.value)} ${e.unknown} ${e.rowKey}`);

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await db.pool.query(`GRANT SELECT ON auditrum.erasures, auditrum.erased_changes TO ${role.name}`);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, status text, note text)');
  await audit().track('public.items');
  await app.query(`INSERT INTO items VALUES (1, 's0', 'n')`);
  await app.query(`DO $$ BEGIN FOR i IN 1..60 LOOP
      UPDATE items SET status = 's' || i WHERE id = 1;
      IF i % 4 = 0 THEN UPDATE items SET note = 'n' || i WHERE id = 1; END IF;
    END LOOP; END $$`);
  await app.query('UPDATE items SET id = 5 WHERE id = 1');
  await app.query(`DO $$ BEGIN FOR i IN 61..130 LOOP
      UPDATE items SET status = 's' || i WHERE id = 5;
      IF i % 3 = 0 THEN UPDATE items SET note = 'n' || i WHERE id = 5; END IF;
    END LOOP; END $$`);
  await audit().erase({ subject: { table: 'public.items', key: 5, columns: ['status'] }, reason: 'ticket 15' });
  await app.query(`UPDATE items SET status = 'after erasure' WHERE id = 5`);
});

afterAll(async () => {
  await app?.end();
});

describe('api/field-history in pages', () => {
  it('gives, page after page, every value the whole history gives', async () => {
    const expected = await whole();
    // The INSERT, 130 UPDATEs of the field (60 under the old key), the one after the erasure.
    expect(expected).toHaveLength(132);
    expect(expected.filter((e) => / UPDATE null erased 5$/.test(e))).toHaveLength(70);
    expect(expected.at(-1)).toMatch(/ UPDATE "after erasure" null 5$/);
    for (const limit of ['1', '7', '50', '200']) {
      const { entries, pages } = await allPages({ limit });
      expect({ limit, entries: shown(entries) }).toEqual({ limit, entries: expected });
      expect(pages).toBe(Math.ceil(132 / Number(limit)));
    }
    const first = await call({});
    expect((first.body as FieldHistoryResponse).entries).toHaveLength(50);
  });

  it('pages the values recorded up to `at`', async () => {
    const { rows } = await db.pool.query<{ at: string }>(
      `SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM auditrum.changes
       WHERE row_key = '1' ORDER BY id OFFSET 30 LIMIT 1`,
    );
    const at = rows[0]?.at as string;
    const expected = await whole(at);
    expect(expected.length).toBeGreaterThan(10);
    expect(expected.length).toBeLessThan(132);
    expect(shown((await allPages({ at, limit: '4' })).entries)).toEqual(expected);
  });

  it('refuses a cursor or a limit it cannot take, naming it', async () => {
    const history = (await adminRead<{ nextCursor: string }>(app, 'api/history', { table: 'public.items', key: '5' }))
      .nextCursor;
    for (const [query, parameter] of [
      [{ cursor: 'garbage!' }, 'cursor'],
      [{ cursor: Buffer.from('c:12').toString('base64url') }, 'cursor'],
      [{ cursor: history }, 'cursor'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '201' }, 'limit'],
      [{ limit: 'ten' }, 'limit'],
      [{ limit: '1.5' }, 'limit'],
    ] as const) {
      const response = await call(query);
      expect({ query, status: response.status, body: response.body }).toMatchObject({
        query,
        status: 400,
        body: { error: { code: 'bad_parameter', parameter } },
      });
    }
  });

  it('refuses in the library a `before` that is not a change id and a `limit` that is not a whole number from 1', async () => {
    const fieldHistory = createAuditrum({ pool: app, partitions: false }).fieldHistory;
    const options = { table: 'public.items', key: 5, field: 'status' };
    for (const bad of [{ before: 'x' }, { before: '0' }, { before: 12 }, { before: '99999999999999999999' }]) {
      await expect(fieldHistory({ ...options, ...bad } as never)).rejects.toMatchObject({
        constructor: HistoryInputError,
        message: 'auditrum: fieldHistory() option "before" must be a change id (digits, from 1)',
        problem: 'options',
      });
    }
    for (const bad of [{ limit: 0 }, { limit: 1.5 }, { limit: '3' }, { limit: Number.NaN }]) {
      await expect(fieldHistory({ ...options, ...bad } as never)).rejects.toMatchObject({
        constructor: HistoryInputError,
        message: 'auditrum: fieldHistory() option "limit" must be a whole number from 1',
        problem: 'options',
      });
    }
    const page = await fieldHistory({ ...options, limit: 2 });
    expect(page.map((e) => [e.value, e.unknown])).toEqual([
      [null, 'erased'],
      ['after erasure', null],
    ]);
    const before = await fieldHistory({ ...options, before: page[0]?.changeId as string, limit: 1 });
    expect(before.map((e) => [e.value, e.unknown])).toEqual([[null, 'erased']]);
    expect(BigInt(before[0]?.changeId as string)).toBeLessThan(BigInt(page[0]?.changeId as string));
  });
});

import { createAuditrum } from '@auditrum/core';
import type { Change, ChangesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../src/admin/change-export.js';

// An export of a filter no index serves (a changed column, a source) answers once one bounded batch of the log was
// read (the list's first page: 10,000 changes), even when that batch holds no match: its first chunk is then empty
// (NDJSON) or the CSV header alone, so the download starts at once. The file still holds every match, newest first, as
// the list's pages do; a failure before the first chunk is an error status, one after it ends the body with an error.
// The log: 15,000 UPDATEs of `status`, the oldest three of them also of `discount`. Read as a non-superuser role that
// may read the log.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

async function exportOf(query: Record<string, string>): Promise<{ status: number; chunks: AsyncIterator<string> }> {
  // A failure is the test's: not logged.
  const admin = createAdminRoutes({ pool: app, authorize: () => true, onError: () => undefined });
  const response = await admin({
    method: 'GET',
    path: 'api/changes/export',
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  });
  const { body } = response;
  const chunks =
    typeof body === 'string'
      ? (async function* () {
          yield body;
        })()
      : (body as AsyncIterable<string>)[Symbol.asyncIterator]();
  return { status: response.status, chunks };
}

async function rest(chunks: AsyncIterator<string>): Promise<string> {
  let text = '';
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) text += next.value;
  return text;
}

/** Every item of the list for `query`, following its cursor (through its short pages) to the end. */
async function listed(query: Record<string, string>): Promise<Change[]> {
  const admin = createAdminRoutes({ pool: app, authorize: () => true });
  const items: Change[] = [];
  let cursor: string | null = null;
  do {
    const response = await admin({
      method: 'GET',
      path: 'api/changes',
      query: new URLSearchParams(cursor === null ? query : { ...query, cursor }),
      headers: {},
      basePath: '/audit-admin',
      raw: null,
    });
    const page = JSON.parse(String(response.body)) as ChangesResponse;
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return items;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, status text, discount int)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('items');
  await db.pool.query(
    `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, new_values, context)
     SELECT now() - interval '1 day' + g * interval '1 second', 1000 + g,
       (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'items'), 'UPDATE', (g % 100)::text,
       CASE WHEN g <= 3 THEN '{"status": "open", "discount": 0}' ELSE '{"status": "open"}' END::jsonb,
       CASE WHEN g <= 3 THEN jsonb_build_object('status', 'paid', 'discount', g) ELSE '{"status": "paid"}' END,
       jsonb_build_object('source', CASE WHEN g <= 3 THEN 'cli' ELSE 'job' END)
     FROM generate_series(1, 15000) g ORDER BY g`,
  );
});

afterAll(async () => {
  await app?.end();
});

describe('api/changes/export of a filter no index serves', () => {
  it('answers after the first batch, with no line yet, then holds every match as the list does (NDJSON)', async () => {
    const expected = await listed({ column: 'discount' });
    expect(expected.map((c) => c.newValues)).toEqual([
      { status: 'paid', discount: 3 },
      { status: 'paid', discount: 2 },
      { status: 'paid', discount: 1 },
    ]);
    for (const filter of [{ column: 'discount' }, { source: 'cli' }]) {
      const { status, chunks } = await exportOf({ ...filter, format: 'ndjson' });
      expect(status).toBe(200);
      // The newest 10,000 changes hold no match: the first chunk has no line.
      expect(await chunks.next()).toEqual({ done: false, value: '' });
      const lines = (await rest(chunks)).trimEnd().split('\n');
      expect(lines.map((line) => JSON.parse(line))).toEqual(expected);
    }
  });

  it('sends the CSV header alone first, and a file of the header alone when nothing matches', async () => {
    const header = `${CSV_COLUMNS.join(',')}\r\n`;
    const some = await exportOf({ column: 'discount', format: 'csv' });
    expect(await some.chunks.next()).toEqual({ done: false, value: header });
    expect((await rest(some.chunks)).split('\r\n').map((line) => line.split(',')[0])).toEqual([
      ...(await listed({ column: 'discount' })).map((c) => c.id),
      '',
    ]);
    const none = await exportOf({ column: 'nowhere', format: 'csv' });
    expect([none.status, await rest(none.chunks)]).toEqual([200, header]);
    const empty = await exportOf({ column: 'nowhere', format: 'ndjson' });
    expect([empty.status, await rest(empty.chunks)]).toEqual([200, '']);
  });

  it('exports every match of batches with more matches than an export batch, in order, once each', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `SELECT c.id::text AS id FROM auditrum.changes c ORDER BY c.id DESC`,
    );
    const { chunks } = await exportOf({ column: 'status', format: 'ndjson' });
    const ids = (await rest(chunks))
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as Change).id);
    expect(ids).toEqual(rows.map((row) => row.id));
  });

  it('answers an error status for a failure before the first chunk, and ends the body with an error after it', async () => {
    await db.pool.query(`REVOKE SELECT ON auditrum.changes FROM ${role.name}`);
    try {
      expect((await exportOf({ column: 'discount', format: 'ndjson' })).status).toBe(500);
    } finally {
      await db.pool.query(`GRANT SELECT ON auditrum.changes TO ${role.name}`);
    }
    const { status, chunks } = await exportOf({ column: 'discount', format: 'ndjson' });
    expect([status, await chunks.next()]).toEqual([200, { done: false, value: '' }]);
    await db.pool.query(`REVOKE SELECT ON auditrum.changes FROM ${role.name}`);
    try {
      await expect(chunks.next()).rejects.toThrow(/permission denied/);
    } finally {
      await db.pool.query(`GRANT SELECT ON auditrum.changes TO ${role.name}`);
    }
  });
});

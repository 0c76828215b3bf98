import { randomBytes } from 'node:crypto';
import { createAuditrum, harden, seal } from '@auditrum/core';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactionIds } from '../src/admin/transaction-ids.js';
import type { TransactionStretch } from '../src/changes/transaction-name.js';
import { loggedChanges } from '../src/history/restore/logged-change.js';
import { loggedIds, mountedPageIds } from './transaction-pages.js';

// The transaction page (api/changes?txid) and undo read only the ids the seals around the transaction allow (migration 18).
// Transactions interleave with each other and with the seals here, one of them open across a seal; every page must
// still hold every change of its transaction and nothing else. Two-role set-up: the application's non-superuser role
// owns the tracked table, writes, and is the admin's pool (after harden it may read seals); the admin role seals. A
// third role, granted only the change screens' tables, may not read seals: its pages read the whole log.
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
const readerName = `reader_${randomBytes(5).toString('hex')}`;
const password = randomBytes(9).toString('hex');
let app: pg.Pool;
let owner: pg.Pool;
let reader: pg.Pool;
/** The transactions written, in the order they began. */
const txids: Record<'first' | 'acrossSeal' | 'betweenSeals' | 'afterSeals', string> = {
  first: '',
  acrossSeal: '',
  betweenSeals: '',
  afterSeals: '',
};

async function inTransaction(client: pg.PoolClient, statements: string[]): Promise<string> {
  await client.query('BEGIN');
  for (const statement of statements) await client.query(statement);
  const { rows } = await client.query<{ txid: string }>('SELECT txid_current()::text AS txid');
  await client.query('COMMIT');
  return rows[0]?.txid as string;
}

function apiOf(pool: pg.Pool) {
  return { pool, schema: 'auditrum', schemaSql: '"auditrum"', tables: [], tablesById: new Map(), scope: undefined };
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  createAuditrum({ pool: app, partitions: false });
  owner = adminRole.openPool({ max: 1 });
  await db.pool.query(`CREATE ROLE ${readerName} LOGIN PASSWORD '${password}'`);
  const url = new URL(db.url);
  url.username = readerName;
  url.password = password;
  reader = db.openPool({ connectionString: url.toString(), max: 1 });
  await app.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  await db.pool.query(`SELECT auditrum.track('items')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
  await db.pool.query(
    `GRANT USAGE ON SCHEMA auditrum TO ${readerName};
     GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests TO ${readerName}`,
  );

  const [a, b] = [await app.connect(), await app.connect()];
  try {
    txids.first = await inTransaction(a, [`INSERT INTO items SELECT g, 'n' FROM generate_series(1, 5) g`]);
    // Open across the first seal, its changes before and after it, other transactions' changes in between.
    await b.query('BEGIN');
    await b.query(`UPDATE items SET note = 'across 1' WHERE id = 1`);
    const { rows } = await b.query<{ txid: string }>('SELECT txid_current()::text AS txid');
    txids.acrossSeal = rows[0]?.txid as string;
    await seal(owner, 'auditrum');
    txids.betweenSeals = await inTransaction(a, [
      `INSERT INTO items VALUES (6, 'n')`,
      `UPDATE items SET note = 'between' WHERE id = 2`,
    ]);
    await b.query(`UPDATE items SET note = 'across 2' WHERE id IN (3, 6)`);
    await b.query('COMMIT');
    await seal(owner, 'auditrum');
    txids.afterSeals = await inTransaction(a, [`DELETE FROM items WHERE id = 4`, `UPDATE items SET note = 'last'`]);
  } finally {
    a.release();
    b.release();
  }
});

afterAll(async () => {
  await Promise.all([app, owner, reader].map((pool) => pool.end()));
  const quoted = pg.escapeIdentifier(readerName);
  await db.pool.query(`DROP OWNED BY ${quoted}; DROP ROLE ${quoted}`);
});

/** A transaction of a log never restored: its stretch is the whole log, its seals all of them. */
function unrestored(txid: string): TransactionStretch {
  return { txid, idsAfter: null, idsUpTo: null, sealsAfter: '0', sealsUpTo: null };
}

describe('a transaction’s changes within the ids the seals allow', () => {
  it('lists every change of each transaction and nothing else, whether or not the role may read the seals', async () => {
    for (const txid of Object.values(txids)) {
      const expected = await loggedIds(db.pool, txid);
      expect(expected.length).toBeGreaterThan(0);
      expect(await mountedPageIds(app, txid)).toEqual(expected);
      expect(await mountedPageIds(reader, txid)).toEqual(expected);
    }
    expect((await loggedIds(db.pool, txids.acrossSeal)).length).toBe(3);
  });

  it('bounds each transaction by the nearest seal on each side, and every change lies within', async () => {
    const { rows: seals } = await db.pool.query<{ ids_before: string; ids_after: string }>(
      'SELECT ids_before::text, ids_after::text FROM auditrum.seals ORDER BY id',
    );
    const [first, second] = seals as [
      { ids_before: string; ids_after: string },
      { ids_before: string; ids_after: string },
    ];
    const expected = {
      // Ended before the first seal's snapshot: up to its ids_after; nothing began before it.
      first: { after: null, upTo: first.ids_after },
      // Began before the first seal and ended before the second: no lower bound, the second's ids_after.
      acrossSeal: { after: null, upTo: second.ids_after },
      // Began after the first seal's snapshot and ended before the second's.
      betweenSeals: { after: first.ids_before, upTo: second.ids_after },
      // Began after the last seal: above its ids_before, no upper bound.
      afterSeals: { after: second.ids_before, upTo: null },
    };
    for (const [name, txid] of Object.entries(txids)) {
      const range = await transactionIds(apiOf(app), unrestored(txid));
      expect({ name, ...range }).toEqual({ name, ...expected[name as keyof typeof expected] });
      for (const id of await loggedIds(db.pool, txid)) {
        if (range.after !== null) expect(BigInt(id)).toBeGreaterThan(BigInt(range.after));
        if (range.upTo !== null) expect(BigInt(id)).toBeLessThanOrEqual(BigInt(range.upTo));
      }
    }
    // The bounds exclude other transactions' changes: the one between the seals is not read past its range.
    const between = await transactionIds(apiOf(app), unrestored(txids.betweenSeals));
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM auditrum.changes WHERE id > $1 AND id <= $2',
      [between.after, between.upTo],
    );
    expect(rows[0]?.n).toBeLessThan((await db.pool.query('SELECT id FROM auditrum.changes')).rowCount as number);
  });

  it('undo reads a transaction’s changes within the same bounds, every one of them', async () => {
    for (const txid of Object.values(txids)) {
      const ids = (await loggedChanges(app, 'auditrum', { txid })).map((change) => change.id);
      expect({ txid, ids }).toEqual({ txid, ids: (await loggedIds(db.pool, txid)).reverse() });
    }
  });

  it('a role that may not read the seals gets no bounds (and the whole log is read)', async () => {
    expect(await transactionIds(apiOf(reader), unrestored(txids.betweenSeals))).toEqual({ after: null, upTo: null });
  });

  it('a transaction id no seal knows of, and bad ones refused with a 400 naming txid', async () => {
    expect(await mountedPageIds(app, '9223372036854775807')).toEqual([]);
    expect(await mountedPageIds(app, '0')).toEqual([]);
    const admin = createAdminRoutes({ pool: app, authorize: () => true });
    for (const bad of ['abc', '-1', '1.5', '9223372036854775808', '1 OR 1=1']) {
      const response = await admin({
        method: 'GET',
        path: 'api/changes',
        query: new URLSearchParams({ txid: bad }),
        headers: {},
        basePath: '/audit-admin',
        raw: null,
      });
      expect({ bad, status: response.status, parameter: JSON.parse(String(response.body)).error.parameter }).toEqual({
        bad,
        status: 400,
        parameter: 'txid',
      });
    }
  });
});

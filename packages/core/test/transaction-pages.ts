import type { ChangesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import type pg from 'pg';
import { expect } from 'vitest';
import type { ApiContext } from '../src/admin/api-context.js';
import { listChanges } from '../src/admin/changes-api.js';
import { QueryParams } from '../src/admin/query-params.js';
import type { TransactionBlocks } from '../src/admin/transaction-blocks.js';

// The transaction page's tests' shared steps: a transaction written, its changes as the log holds them, and as the
// page lists them (with a given summary of transactions, or through a newly mounted admin).

/** Runs the statements in one committed transaction of `pool`; returns its txid. */
export async function committed(pool: pg.Pool, statements: string[]): Promise<string> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (const statement of statements) await client.query(statement);
    const { rows } = await client.query<{ txid: string }>('SELECT txid_current()::text AS txid');
    await client.query('COMMIT');
    return rows[0]?.txid as string;
  } finally {
    client.release();
  }
}

/** The transaction's change ids, newest first, straight from the log. */
export async function loggedIds(pool: pg.Pool, txid: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    'SELECT c.id::text AS id FROM auditrum.changes c WHERE c.txid = $1::bigint ORDER BY c.id DESC',
    [txid],
  );
  return rows.map((row) => row.id);
}

/** The transaction page's ids as `pool` reads them with summary `blocks`. */
export async function summaryPageIds(pool: pg.Pool, blocks: TransactionBlocks, txid: string): Promise<string[]> {
  const api: ApiContext = {
    pool,
    schema: 'auditrum',
    schemaSql: '"auditrum"',
    tables: [],
    tablesById: new Map(),
    scope: undefined,
    transactionBlocks: blocks,
  };
  const page = await listChanges(api, new QueryParams(new URLSearchParams({ txid, limit: '200' })));
  return page.items.map((change) => change.id);
}

/** The page's answer (`api/changes?txid=`) through an admin newly mounted on `pool` (its own summary). */
export async function mountedPage(pool: pg.Pool, txid: string) {
  const admin = createAdminRoutes({ pool, authorize: () => true });
  return admin({
    method: 'GET',
    path: 'api/changes',
    query: new URLSearchParams({ txid, limit: '200' }),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  });
}

/** The same page through an admin newly mounted on `pool` (its own summary, of 1,024-id blocks). */
export async function mountedPageIds(pool: pg.Pool, txid: string): Promise<string[]> {
  const response = await mountedPage(pool, txid);
  expect(response.status).toBe(200);
  return (JSON.parse(String(response.body)) as ChangesResponse).items.map((change) => change.id);
}

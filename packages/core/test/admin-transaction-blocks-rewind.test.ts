import { createAuditrum } from '@auditrum/core';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransactionBlocks } from '../src/admin/transaction-blocks.js';
import { committed, loggedIds, summaryPageIds } from './transaction-pages.js';

// The admin's in-memory summary of transactions (transaction-blocks.ts) outlives what it summarized when the database
// behind the pool goes back in time: a failover to a standby that had not received the last commits, or a restore.
// The lost transactions' ids are then drawn again, by other transactions, and the log grows past where the summary
// stopped, so the summary cannot tell from the newest id alone. Simulated here as a superuser would see it: the
// newest changes removed and the id sequence set back. The pages of the transactions written afterwards must still
// hold all their changes. Blocks of 4 ids; the application's non-superuser role writes and is the admin's pool.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let blocks: TransactionBlocks;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await app.query('CREATE TABLE parcels (id int PRIMARY KEY, state text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.parcels');
  createAuditrum({ pool: app, partitions: false });
  blocks = new TransactionBlocks(app, '"auditrum"', 4n);
});

afterAll(async () => {
  await app.end();
});

/** Removes the changes above `id` and sets the id sequence back to it, as a database restored to that point has. */
async function rewindTo(id: bigint): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    // The log's own guards (append-only triggers, where installed) do not fire for a replica's changes.
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query('DELETE FROM auditrum.changes WHERE id > $1', [String(id)]);
    await client.query(`SELECT setval(pg_get_serial_sequence('auditrum.changes', 'id'), $1)`, [String(id)]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

describe('the transaction summary after the database went back in time', () => {
  it('starts again when the newest change it summarized is gone or another one, and finds every change', async () => {
    const kept = await committed(app, [`INSERT INTO parcels SELECT g, 'new' FROM generate_series(1, 6) g`]);
    const keptIds = await loggedIds(db.pool, kept);
    const lastKept = BigInt(keptIds[0] as string);
    // Transactions the restored database will not have: summarized while they were there.
    const lost: string[] = [];
    for (let i = 1; i <= 6; i++)
      lost.push(await committed(app, [`UPDATE parcels SET state = 'lost ${i}' WHERE id <= 3`]));
    for (const txid of lost) expect(await summaryPageIds(app, blocks, txid)).toEqual(await loggedIds(db.pool, txid));
    expect(BigInt((await blocks.rangesOf(lost.at(-1) as string)).after)).toBeGreaterThan(lastKept + 12n);

    await rewindTo(lastKept);
    // The ids of the lost transactions, and more, drawn again by others (each writes 6 rows, past where it stopped).
    const after: string[] = [];
    for (let i = 1; i <= 5; i++) after.push(await committed(app, [`UPDATE parcels SET state = 'after ${i}'`]));
    for (const txid of [kept, ...after]) {
      const ids = await loggedIds(db.pool, txid);
      expect(ids.length).toBe(6);
      expect(await summaryPageIds(app, blocks, txid)).toEqual(ids);
    }
  });
});

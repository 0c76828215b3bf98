import type { ExportCursor } from '@auditrum/core';
import { createAuditrum, doctor, exportLogs, migrate, seal, undo, verify } from '@auditrum/core';
import type { ChangesResponse } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { committed, mountedPage } from './transaction-pages.js';

/**
 * The restore boundary's readers on any server (restored-dump.test.ts restores a real dump into another cluster, where
 * pg_dump is installed): a log that finds itself in another cluster than its latest boundary names, as a restore
 * leaves it, is refused by the readers that go by transaction ids until the owner's migrate records the boundary;
 * then the rows up to it are exported once, sealed once, judged by it and named `txid@1`.
 */
const db = useTestDatabase();
const app = useAppRole(db);
let owner: pg.Pool;
const PENDING = /restored from another cluster and its restore boundary is not recorded yet/;

async function changeIds(): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>('SELECT id::text AS id FROM auditrum.changes ORDER BY id');
  return rows.map((row) => row.id);
}

/** An export's change ids, and each record (of both logs) as `log id txid`. */
async function exported(cursor?: ExportCursor): Promise<{ ids: string[]; records: string[]; cursor: ExportCursor }> {
  const run = exportLogs(db.pool, 'auditrum', cursor === undefined ? {} : { cursor });
  const ids: string[] = [];
  const records: string[] = [];
  for await (const record of run) {
    if (record.log === 'changes') ids.push(record.id);
    records.push(`${record.log} ${record.id} ${record.txid}`);
  }
  return { ids, records, cursor: run.cursor as ExportCursor };
}

/** Each row of both logs as `log id txid`, the txid as stored, `@1` added to those up to the given ids. */
async function storedRecords(changesUpTo: string, requestsUpTo: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ record: string }>(
    `SELECT 'changes ' || id || ' ' || txid || CASE WHEN id <= $1::bigint THEN '@1' ELSE '' END AS record
     FROM auditrum.changes
     UNION ALL
     SELECT 'requests ' || id || ' ' || txid || CASE WHEN id <= $2::bigint THEN '@1' ELSE '' END
     FROM auditrum.api_requests`,
    [changesUpTo, requestsUpTo],
  );
  return rows.map((row) => row.record);
}

async function requestId(requestId: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    'SELECT id::text AS id FROM auditrum.api_requests WHERE request_id = $1',
    [requestId],
  );
  return rows[0]?.id as string;
}

async function insertApiRequest(requestId: string): Promise<void> {
  await db.pool.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, status, duration_ms)
     VALUES (now(), $1, 'GET', '/', 200, 1)`,
    [requestId],
  );
}

async function page(txid: string): Promise<{ status: number; items?: { id: string; txid: string }[] }> {
  const response = await mountedPage(db.pool, txid);
  if (response.status !== 200) return { status: response.status };
  const { items } = JSON.parse(String(response.body)) as ChangesResponse;
  return { status: 200, items: items.map(({ id, txid: name }) => ({ id, txid: name })) };
}

beforeAll(async () => {
  owner = app.openPool({ max: 1 });
  await owner.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.items');
  // What the application role may read after `harden`: the schema's version and the registry.
  await db.pool.query(
    `GRANT SELECT ON auditrum.schema_migrations, auditrum.tracked_tables TO ${pg.escapeIdentifier(app.name)}`,
  );
});

async function boundaries(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM auditrum.restore_boundaries');
  return rows[0]?.n as number;
}

async function idsOf(txid: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    'SELECT id::text AS id FROM auditrum.changes WHERE txid = $1 ORDER BY id',
    [txid],
  );
  return rows.map((row) => row.id);
}

// As pg_upgrade leaves a log (and a move into any cluster that had counted further): in another cluster, whose
// transaction ids go on from the log's. Before these first, every reader refused until the owner ran migrate.
describe('a log moved into a cluster that counts on from its transaction ids (pg_upgrade)', () => {
  it("is marked as this cluster's by the application role's migrate, with no boundary, and read as before", async () => {
    const before = await committed(owner, [`INSERT INTO items VALUES (10, 'ten')`]);
    await db.pool.query('UPDATE auditrum.restore_boundaries SET system_identifier = system_identifier + 1');
    await expect(exported()).rejects.toThrow(PENDING);

    const asApp = await migrate(owner);
    expect(asApp.restored).toMatchObject({ continuedCluster: true, boundary: null, boundaryRefused: null });
    expect(await boundaries()).toBe(1);
    expect((await doctor(db.pool, 'auditrum')).checks.filter((c) => c.check === 'registry')).toEqual([]);
    expect((await migrate(owner)).restored.continuedCluster).toBe(false);

    const after = await committed(owner, [`UPDATE items SET name = 'diez' WHERE id = 10`]);
    expect((await exported()).ids).toEqual(await changeIds());
    // Transactions keep their names (no `@n`).
    expect(await page(before)).toEqual({
      status: 200,
      items: (await idsOf(before)).map((id) => ({ id, txid: before })),
    });
    expect(await page(after)).toEqual({ status: 200, items: (await idsOf(after)).map((id) => ({ id, txid: after })) });
    expect((await seal(db.pool, 'auditrum')).rows).toBe(2);
    expect(await verify(db.pool, 'auditrum')).toMatchObject({ ok: true, unsealed: 0, problems: [] });
  });

  it('is marked by seal too, when no migrate ran since', async () => {
    await db.pool.query('UPDATE auditrum.restore_boundaries SET system_identifier = system_identifier + 1');
    await committed(owner, [`INSERT INTO items VALUES (11, 'eleven')`]);
    expect((await seal(db.pool, 'auditrum')).rows).toBe(1);
    expect(await boundaries()).toBe(1);
    expect((await db.pool.query('SELECT auditrum._restore_pending() AS pending')).rows).toEqual([{ pending: null }]);
  });
});

describe('a log restored into another cluster (its latest boundary names another system identifier)', () => {
  it('is refused by the readers until the owner records its boundary, then read by it', async () => {
    await owner.query(`INSERT INTO items VALUES (1, 'one')`);
    expect((await seal(db.pool, 'auditrum')).rows).toBeGreaterThan(0);
    const dumpedTxid = await committed(owner, [`UPDATE items SET name = 'uno' WHERE id = 1`]);
    await insertApiRequest('req-restored');
    const restoredIds = await changeIds();
    const { rows: updates } = await db.pool.query<{ id: string }>(
      `SELECT id::text AS id FROM auditrum.changes WHERE operation = 'UPDATE' AND row_key = '1'`,
    );
    const updated = updates[0]?.id as string;
    // As a dump restored elsewhere would have it: the log's latest boundary is of another cluster, which had counted
    // further than this one (its last transaction's id this cluster has not reached).
    await db.pool.query('UPDATE auditrum.restore_boundaries SET system_identifier = system_identifier + 1');
    const restoredTxid = String(BigInt(dumpedTxid) + 2n ** 32n);
    await db.pool.query('UPDATE auditrum.changes SET txid = $2 WHERE txid = $1', [dumpedTxid, restoredTxid]);
    await db.pool.query(`UPDATE auditrum.api_requests SET txid = $1 WHERE request_id = 'req-restored'`, [restoredTxid]);

    await expect(exported()).rejects.toThrow(PENDING);
    await expect(seal(db.pool, 'auditrum')).rejects.toThrow(PENDING);
    await expect(verify(db.pool, 'auditrum')).rejects.toThrow(PENDING);
    await expect(undo(db.pool, 'auditrum', { txid: restoredTxid }, { dryRun: true })).rejects.toThrow(PENDING);
    expect(await page(restoredTxid)).toEqual({ status: 409 });
    expect((await doctor(db.pool, 'auditrum')).checks.filter((c) => c.check === 'registry')).toEqual([
      { check: 'registry', subject: 'auditrum', status: 'problem', detail: expect.stringMatching(PENDING) },
    ]);
    // The application role may not record it, and says so; still refused.
    const asApp = await migrate(owner);
    expect(asApp.restored.boundary).toBeNull();
    expect(asApp.restored.boundaryRefused).toMatch(/^only the schema owner may record the restore boundary/);
    await expect(seal(db.pool, 'auditrum')).rejects.toThrow(PENDING);

    const { boundary } = (await migrate(db.pool)).restored;
    expect(boundary).toEqual({
      id: 2,
      changesUpTo: restoredIds.at(-1),
      requestsUpTo: expect.stringMatching(/^\d+$/),
      xid: expect.stringMatching(/^\d+$/),
    });
    expect((await doctor(db.pool, 'auditrum')).checks.filter((c) => c.check === 'registry')).toEqual([]);

    // Exported once, in a new cursor's first step; the rows written since after them.
    const first = await exported();
    expect(first.ids).toEqual(restoredIds);
    const hereTxid = await committed(owner, [`INSERT INTO items VALUES (2, 'two')`]);
    const here = (await changeIds()).filter((id) => !restoredIds.includes(id));
    let cursor = first.cursor;
    const later: string[] = [];
    const records = [...first.records];
    for (let step = 0; step < 5 && later.length < here.length; step++) {
      const next = await exported(cursor);
      later.push(...next.ids);
      records.push(...next.records);
      cursor = next.cursor;
    }
    expect(later).toEqual(here);
    // Each record's transaction named as the admin names it: a restored row's (a change's or an API call's) `txid@1`,
    // never the bare txid a transaction of this cluster may have too.
    await insertApiRequest('req-here');
    for (let step = 0; step < 5 && records.length < (await storedRecords('0', '0')).length; step++) {
      const next = await exported(cursor);
      records.push(...next.records);
      cursor = next.cursor;
    }
    expect(records.sort()).toEqual(
      (await storedRecords(boundary?.changesUpTo as string, boundary?.requestsUpTo as string)).sort(),
    );
    expect(records).toContain(`requests ${await requestId('req-restored')} ${restoredTxid}@1`);

    // Named by its stretch: `txid@1` restored, `txid` this cluster's.
    expect(await page(`${restoredTxid}@1`)).toEqual({
      status: 200,
      items: [{ id: updated, txid: `${restoredTxid}@1` }],
    });
    expect(await page(restoredTxid)).toEqual({ status: 200, items: [] });
    expect(await page(hereTxid)).toEqual({ status: 200, items: here.map((id) => ({ id, txid: hereTxid })) });
    const { plan } = await undo(db.pool, 'auditrum', { txid: `${restoredTxid}@1` }, { dryRun: true });
    expect(plan.statements.flatMap((s) => s.reverts)).toEqual([updated]);

    // Sealed: the restored row not sealed yet and this cluster's; verify finds no break, and a real one.
    expect((await seal(db.pool, 'auditrum')).rows).toBe(1 + here.length);
    expect(await verify(db.pool, 'auditrum')).toMatchObject({ ok: true, unsealed: 0, problems: [] });
    await db.pool.query(`UPDATE auditrum.changes SET new_values = '{"name": "forged"}' WHERE id = $1`, [updated]);
    expect((await verify(db.pool, 'auditrum')).problems).toEqual([
      { problem: 'changed', seq: expect.any(String), changeId: updated, detail: expect.any(String) },
    ]);
  });
});

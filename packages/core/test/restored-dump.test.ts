import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExportCursor } from '@auditrum/core';
import {
  blame,
  createAuditrum,
  doctor,
  exportLogs,
  migrate,
  rowAsOf,
  seal,
  status,
  undo,
  verify,
} from '@auditrum/core';
import type { ChangesResponse } from '@auditrum/core/admin';
import { ignoreIdleErrors, startCluster, useAppRole, useTestDatabase, withClient } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTHING_RESTORED } from './nothing-restored.js';
import { mountedPage } from './transaction-pages.js';

/**
 * An audited database dumped with pg_dump and restored with pg_restore into another database: its tables get new
 * oids, and a table that had a column dropped gets its columns numbered again. The registry kept the old ones:
 * history found no table, ALTER TABLE was not followed (a new column went unrecorded), and regenerating a capture
 * function would have masked the wrong column. `migrate` rebinds it. Needs pg_dump and pg_restore of the server's
 * major version (Debian's packages: CI's PostgreSQL 15 run); skipped where there are none (the embedded server).
 */
const run = promisify(execFile);
const db = useTestDatabase();
const app = useAppRole(db);
let binDir: string | undefined;
let restoredName = '';
let restoredUrl = '';
let restored: pg.Pool;
let restoredApp: pg.Pool;
let work = '';
// A role of this cluster that a restore into another one could have given the application role's oid.
const INTRUDER = `intruder_${process.pid}`;

beforeAll(async () => {
  const { rows } = await db.pool.query<{ major: string }>(
    "SELECT current_setting('server_version_num')::int / 10000 AS major",
  );
  const dir = `/usr/lib/postgresql/${rows[0]?.major}/bin`;
  binDir = existsSync(join(dir, 'pg_dump')) && existsSync(join(dir, 'pg_restore')) ? dir : undefined;
});

async function restoreCopy(): Promise<void> {
  // Transaction ids well past a new cluster's, as a production database's are (restored into another cluster, its
  // rows carry ids that cluster has not reached: the last test).
  await db.pool.query(`CREATE PROCEDURE burn_xids(n int) LANGUAGE plpgsql AS $$
    BEGIN FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`);
  await withClient(db.url, async (client) => {
    await client.query('SET synchronous_commit = off');
    await client.query('CALL burn_xids(5000)');
  });
  const owner = app.openPool({ max: 1 });
  await owner.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  // A dropped column before the masked one: restored, `password` is column 3, not 4.
  await owner.query('CREATE TABLE accounts (id int PRIMARY KEY, gone text, name text, password text)');
  await owner.query('ALTER TABLE accounts DROP COLUMN gone');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.items');
  await auditrum.track('public.accounts', { mask: ['password'] });
  createAuditrum({ pool: owner, partitions: false });
  await owner.query(`INSERT INTO items VALUES (1, 'first'), (2, 'second')`);
  await owner.query(`UPDATE items SET name = 'first, renamed' WHERE id = 1`);
  await owner.query(`INSERT INTO accounts VALUES (1, 'alice', 'hunter2')`);
  await owner.end();

  work = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'auditrum-dump-'));
  const dump = join(work, 'audited.dump');
  await run(join(binDir as string, 'pg_dump'), ['-Fc', '-f', dump, '-d', db.url]);
  restoredName = `${db.name}_restored`;
  await db.pool.query(`CREATE DATABASE ${pg.escapeIdentifier(restoredName)}`);
  const url = new URL(db.url);
  url.pathname = `/${restoredName}`;
  restoredUrl = url.toString();
  // Other tables first, so that the restored ones get other oids than in the dumped database.
  await withClient(restoredUrl, (client) => client.query('CREATE TABLE unrelated (a int); CREATE TABLE other (b int)'));
  await run(join(binDir as string, 'pg_restore'), ['--exit-on-error', '-d', restoredUrl, dump]);
  restored = ignoreIdleErrors(new pg.Pool({ connectionString: restoredUrl, max: 2 }));
  // What the application role may read after `harden`: the schema's version and the registry, not write it.
  await restored.query(
    `GRANT SELECT ON auditrum.schema_migrations, auditrum.tracked_tables TO ${pg.escapeIdentifier(app.name)}`,
  );
  const appUrl = new URL(app.url);
  appUrl.pathname = `/${restoredName}`;
  restoredApp = ignoreIdleErrors(new pg.Pool({ connectionString: appUrl.toString(), max: 1 }));
  createAuditrum({ pool: restoredApp, partitions: false });
}

afterAll(async () => {
  await restoredApp?.end();
  await restored?.end();
  if (restoredName !== '')
    await db.pool.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(restoredName)} WITH (FORCE)`);
  // After the database that holds its privileges.
  await db.pool.query(`DROP ROLE IF EXISTS ${INTRUDER}`);
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

interface Logged {
  table_name: string;
  operation: string;
  new_values: Record<string, unknown> | null;
}

async function lastChange(table: string): Promise<Logged | undefined> {
  const { rows } = await restored.query<Logged>(
    `SELECT table_name, operation, new_values FROM auditrum.change_log WHERE table_name = $1 ORDER BY id DESC LIMIT 1`,
    [table],
  );
  return rows[0];
}

/** What the readers that go by transaction ids say on a restored log whose boundary is not recorded. */
const PENDING =
  /the log was restored from another cluster and its restore boundary is not recorded yet: run "auditrum migrate" as the schema owner/;

/** One export run (one step): the change ids it delivers, in order, and the cursor after it. */
async function exportStep(db: pg.Pool, cursor?: ExportCursor): Promise<{ ids: string[]; cursor: ExportCursor }> {
  const run = exportLogs(db, 'auditrum', cursor === undefined ? {} : { cursor });
  const ids: string[] = [];
  for await (const record of run) if (record.log === 'changes') ids.push(record.id);
  return { ids, cursor: run.cursor as ExportCursor };
}

async function exportedChangeIds(db: pg.Pool): Promise<string[]> {
  return (await exportStep(db)).ids;
}

/** The changes' ids, in order, above `after`. */
async function changeIds(db: pg.Pool, after = '0'): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    'SELECT id::text AS id FROM auditrum.changes WHERE id > $1::bigint ORDER BY id',
    [after],
  );
  return rows.map((row) => row.id);
}

/** The admin's transaction page: each change's id and transaction name, oldest first. */
async function transactionPage(db: pg.Pool, txid: string): Promise<{ id: string; txid: string }[]> {
  const response = await mountedPage(db, txid);
  expect(response.status).toBe(200);
  const { items } = JSON.parse(String(response.body)) as ChangesResponse;
  return items.map(({ id, txid: name }) => ({ id, txid: name })).reverse();
}

/** The ids of the changes undo({ txid }) would reverse (a dry run). */
async function undoneIds(db: pg.Pool, txid: string): Promise<string[]> {
  const { plan } = await undo(db, 'auditrum', { txid }, { dryRun: true });
  return plan.statements.flatMap((statement) => statement.reverts).sort();
}

describe('a database restored from a dump', () => {
  it('is reported by doctor, rebound by migrate, and keeps its history, masks and following of ALTER TABLE', async (context) => {
    if (binDir === undefined) context.skip();
    await restoreCopy();

    // Before: the registry names the dumped database's oids.
    const before = await doctor(restored, 'auditrum');
    expect(before.checks.filter((c) => c.check === 'registry').map((c) => c.subject)).toEqual([
      'public.items',
      'public.accounts',
    ]);
    expect((await status(restored, 'auditrum')).restored.map((t) => t.table)).toEqual([
      'public.items',
      'public.accounts',
    ]);
    await expect(rowAsOf(restored, 'auditrum', { table: 'public.items', key: '1', at: new Date() })).rejects.toThrow(
      /not tracked/,
    );

    // The application role may not write the registry: its start-up migrate() leaves it to the owner, says so.
    const asApp = await migrate(restoredApp);
    expect(asApp.restored.rebound).toEqual([]);
    expect(asApp.restored.failed.map((f) => f.table.table)).toEqual(['public.items', 'public.accounts']);
    // Nor the restore boundary (in the same cluster the readers need none: its transaction ids are this cluster's).
    expect(asApp.restored.boundary).toBeNull();
    expect(asApp.restored.boundaryRefused).toMatch(/^only the schema owner may record the restore boundary/);

    const { rows: last } = await restored.query<{ id: string }>('SELECT max(id)::text AS id FROM auditrum.changes');
    const result = await migrate(restored);
    expect(result.restored).toEqual({
      rebound: [
        { id: expect.any(Number), table: 'public.items' },
        { id: expect.any(Number), table: 'public.accounts' },
      ],
      failed: [],
      untrustedRoles: [],
      aheadOfCluster: null,
      // Restored into another database of the same cluster: the rows up to here were written in the dumped one.
      boundary: { id: 2, changesUpTo: last[0]?.id, requestsUpTo: '0', xid: expect.stringMatching(/^\d+$/) },
      boundaryRefused: null,
      continuedCluster: false,
    });
    const listed = await status(restored, 'auditrum');
    expect(listed.restored).toEqual([]);
    expect(listed.tables.map((t) => t.table)).toEqual(['public.accounts', 'public.items']);
    const after = await doctor(restored, 'auditrum');
    expect(after.checks.filter((c) => c.check === 'registry')).toEqual([]);
    expect(after.checks.filter((c) => c.check === 'capture').map((c) => [c.subject, c.status])).toEqual([
      ['public.accounts', 'ok'],
      ['public.items', 'ok'],
    ]);

    // History of before the dump reads as it did.
    const row = await rowAsOf(restored, 'auditrum', { table: 'public.items', key: '1', at: new Date() });
    expect(row).toMatchObject({ exists: true, values: { id: 1, name: 'first, renamed' } });
    const blamed = await blame(restored, 'auditrum', { table: 'public.items', key: '1' });
    expect(blamed.fields.map((f) => [f.field, f.change?.operation])).toEqual([
      ['id', 'INSERT'],
      ['name', 'UPDATE'],
    ]);

    // ALTER TABLE is followed again, and the masked column is still the one masked (not the new third or fourth).
    await restoredApp.query('ALTER TABLE accounts ADD COLUMN note text');
    await restoredApp.query(`INSERT INTO accounts VALUES (2, 'bob', 'pw-bob', 'a note')`);
    const inserted = await lastChange('accounts');
    expect(inserted).toEqual({
      table_name: 'accounts',
      operation: 'INSERT',
      new_values: { id: 2, name: 'bob', note: 'a note', password: expect.stringMatching(/^hmac:[0-9a-f]{32}$/) },
    });

    // Tracking again with the same rules keeps the table's id: its history is not split.
    const ids = await restored.query<{ n: string }>(
      "SELECT count(*) AS n FROM auditrum.tracked_tables WHERE table_name = 'items'",
    );
    await createAuditrum({ pool: restored, partitions: false }).track('public.items');
    const again = await restored.query<{ n: string }>(
      "SELECT count(*) AS n FROM auditrum.tracked_tables WHERE table_name = 'items'",
    );
    expect(again.rows).toEqual(ids.rows);

    // A second migrate finds nothing to rebind.
    expect((await migrate(restored)).restored).toEqual(NOTHING_RESTORED);
  });
});

describe('application roles after a restore into another cluster', () => {
  it("are no longer trusted when their oid names another role there, and that role's comments are claims", async (context) => {
    if (binDir === undefined || restored === undefined) context.skip();
    // As another cluster would have it: the application role's registry oid is now another role's.
    await db.pool.query(`CREATE ROLE ${INTRUDER} LOGIN PASSWORD 'intruder'`);
    await restored.query(`GRANT INSERT ON items TO ${INTRUDER}`);
    await restored.query(`UPDATE auditrum.application_roles SET role_oid = $1::regrole WHERE role_name = $2`, [
      INTRUDER,
      app.name,
    ]);
    // A restore is what makes migrate look at the roles: the table's registry row names another relation again.
    await restored.query(`UPDATE auditrum.tracked_tables SET relid = 'unrelated'::regclass WHERE table_name = 'items'`);
    const result = await migrate(restored);
    expect(result.restored.rebound.map((t) => t.table)).toEqual(['public.items']);
    expect(result.restored.untrustedRoles).toEqual([
      { role: app.name, reason: expect.stringContaining(`names role ${INTRUDER} here`) },
    ]);
    const url = new URL(restoredUrl);
    url.username = INTRUDER;
    url.password = 'intruder';
    await withClient(url.toString(), (client) =>
      client.query(`/*auditrum:{"actor_id":"ceo","source":"http"}*/ INSERT INTO items VALUES (3, 'forged')`),
    );
    const { rows } = await restored.query(
      `SELECT actor_id, context -> 'claimed' ->> 'actor_id' AS claimed FROM auditrum.change_log
       WHERE table_name = 'items' ORDER BY id DESC LIMIT 1`,
    );
    expect(rows).toEqual([{ actor_id: null, claimed: 'ceo' }]);
  });
});

describe('restored into another cluster', () => {
  it("is exported, sealed, verified and undone by its restore boundary, not by the transaction ids of the cluster's own count", async (context) => {
    if (binDir === undefined || work === '') context.skip();
    const cluster = await startCluster({ binDir: binDir as string });
    try {
      // No autovacuum: the test gives one of this cluster's transactions the id of a restored one, exactly.
      await withClient(cluster.adminUrl, async (client) => {
        await client.query('ALTER SYSTEM SET autovacuum = off');
        await client.query('SELECT pg_reload_conf()');
        await client.query('CREATE DATABASE elsewhere');
      });
      const url = new URL(cluster.adminUrl);
      url.pathname = '/elsewhere';
      await run(join(binDir as string, 'pg_restore'), ['-d', url.toString(), join(work, 'audited.dump')]).catch(
        // The application role and its grants do not exist in that cluster: pg_restore reports them and goes on.
        () => undefined,
      );
      const elsewhere = ignoreIdleErrors(new pg.Pool({ connectionString: url.toString(), max: 2 }));
      try {
        const restoredIds = await changeIds(elsewhere);
        // The restored UPDATE of items 1, in a transaction whose id this cluster will give one of its own.
        const { rows: updates } = await elsewhere.query<{ id: string; txid: string }>(
          `SELECT id::text, txid::text FROM auditrum.change_log WHERE table_name = 'items' AND operation = 'UPDATE'`,
        );
        const renamed = updates[0] as { id: string; txid: string };

        // Before the owner's migrate, the readers that go by transaction ids refuse, naming what to do; an
        // application role's migrate cannot record the boundary, and says so.
        const refused = async () => {
          await expect(exportedChangeIds(elsewhere)).rejects.toThrow(PENDING);
          await expect(seal(elsewhere, 'auditrum')).rejects.toThrow(PENDING);
          await expect(verify(elsewhere, 'auditrum')).rejects.toThrow(PENDING);
          await expect(undoneIds(elsewhere, renamed.txid)).rejects.toThrow(PENDING);
          expect(await mountedPage(elsewhere, renamed.txid)).toMatchObject({ status: 409 });
        };
        await refused();
        expect((await doctor(elsewhere, 'auditrum')).checks.filter((c) => c.subject === 'auditrum')).toContainEqual({
          check: 'registry',
          subject: 'auditrum',
          status: 'problem',
          detail: expect.stringMatching(PENDING),
        });
        await elsewhere.query(`CREATE ROLE app_elsewhere LOGIN;
          GRANT USAGE ON SCHEMA auditrum TO app_elsewhere;
          GRANT SELECT ON auditrum.schema_migrations, auditrum.tracked_tables TO app_elsewhere`);
        const appUrl = new URL(url);
        appUrl.username = 'app_elsewhere';
        const asApp = await withClient(appUrl.toString(), (client) => migrate(client));
        expect(asApp.restored).toMatchObject({ rebound: [], boundary: null });
        expect(asApp.restored.failed.map((f) => f.table.table)).toEqual(['public.items', 'public.accounts']);
        expect(asApp.restored.boundaryRefused).toMatch(/^only the schema owner may record the restore boundary/);
        await refused();

        const result = await migrate(elsewhere);
        expect(result.restored.rebound.map((t) => t.table)).toEqual(['public.items', 'public.accounts']);
        // The application role's oid names no role there: not trusted until added again.
        expect(result.restored.untrustedRoles.map((r) => r.role)).toEqual([app.name]);
        // Every restored change was written after the 5,000 transactions burnt above, far past a new cluster's count.
        expect(result.restored.aheadOfCluster).toEqual({
          changes: restoredIds.length,
          requests: 0,
          upTo: expect.any(String),
        });
        expect(result.restored.boundary).toEqual({
          id: 2,
          changesUpTo: restoredIds.at(-1),
          requestsUpTo: '0',
          xid: expect.stringMatching(/^\d+$/),
        });
        expect(BigInt(renamed.txid)).toBeGreaterThan(BigInt(result.restored.boundary?.xid as string));
        expect((await doctor(elsewhere, 'auditrum')).checks.filter((c) => c.check === 'registry')).toEqual([]);

        // A new cursor's first step delivers every restored row, though the cluster has not reached their ids.
        const first = await exportStep(elsewhere);
        expect(first.ids).toEqual(restoredIds);

        // This cluster's own transactions, up to one with the restored UPDATE's id, and one after it.
        await elsewhere.query(`CREATE PROCEDURE write_at_xid(target bigint, statement text) LANGUAGE plpgsql AS $$
          DECLARE x bigint;
          BEGIN
            LOOP
              x := pg_current_xact_id()::text::bigint;
              IF x = target THEN EXECUTE statement; COMMIT; RETURN; END IF;
              IF x > target THEN RAISE EXCEPTION 'transaction % passed: at %', target, x; END IF;
              COMMIT;
            END LOOP;
          END $$`);
        await withClient(url.toString(), async (client) => {
          await client.query('SET synchronous_commit = off');
          await client.query('CALL write_at_xid($1, $2)', [
            renamed.txid,
            "UPDATE items SET name = 'here' WHERE id = 2",
          ]);
        });
        await elsewhere.query(`INSERT INTO items VALUES (4, 'fourth')`);
        const newIds = await changeIds(elsewhere, restoredIds.at(-1));
        expect(newIds).toHaveLength(2);
        const [reused] = newIds as [string, string];
        const { rows: reusedRows } = await elsewhere.query('SELECT txid::text FROM auditrum.changes WHERE id = $1', [
          reused,
        ]);
        expect(reusedRows).toEqual([{ txid: renamed.txid }]);

        // The cursor goes on with the new rows only: each row exported once.
        let cursor = first.cursor;
        const later: string[] = [];
        for (let step = 0; step < 5 && later.length < newIds.length; step++) {
          const next = await exportStep(elsewhere, cursor);
          later.push(...next.ids);
          cursor = next.cursor;
        }
        expect(later).toEqual(newIds);

        // The restored transaction is `txid@1` (written after boundary 1, the log's origin), this cluster's is `txid`:
        // neither page nor undo holds the other's change.
        expect(await transactionPage(elsewhere, renamed.txid)).toEqual([{ id: reused, txid: renamed.txid }]);
        expect(await transactionPage(elsewhere, `${renamed.txid}@1`)).toEqual([
          { id: renamed.id, txid: `${renamed.txid}@1` },
        ]);
        expect(await undoneIds(elsewhere, renamed.txid)).toEqual([reused]);
        expect(await undoneIds(elsewhere, `${renamed.txid}@1`)).toEqual([renamed.id]);
        expect(await transactionPage(elsewhere, `${renamed.txid}@2`)).toEqual([{ id: reused, txid: renamed.txid }]);
        await expect(undoneIds(elsewhere, `${renamed.txid}@3`)).rejects.toThrow(/has no restore boundary 3/);

        // Seal takes every row, restored or not; verify finds no break, and still finds a real one.
        expect((await seal(elsewhere, 'auditrum')).rows).toBe(restoredIds.length + newIds.length);
        expect(await verify(elsewhere, 'auditrum')).toMatchObject({ ok: true, unsealed: 0, problems: [] });
        const { rows: kept } = await elsewhere.query('SELECT new_values FROM auditrum.changes WHERE id = $1', [
          renamed.id,
        ]);
        await elsewhere.query(`UPDATE auditrum.changes SET new_values = '{"name": "forged"}' WHERE id = $1`, [
          renamed.id,
        ]);
        expect((await verify(elsewhere, 'auditrum')).problems).toEqual([
          { problem: 'changed', seq: expect.any(String), changeId: renamed.id, detail: expect.any(String) },
        ]);
        await elsewhere.query('UPDATE auditrum.changes SET new_values = $2 WHERE id = $1', [
          renamed.id,
          kept[0]?.new_values,
        ]);
        expect((await verify(elsewhere, 'auditrum')).ok).toBe(true);

        // A restore of the restore, back into the first cluster (whose count passed both transactions' id long ago).
        const again = join(work, 'again.dump');
        await run(join(binDir as string, 'pg_dump'), ['-Fc', '-f', again, '-d', url.toString()]);
        const againName = `${db.name}_again`;
        await db.pool.query(`CREATE DATABASE ${pg.escapeIdentifier(againName)}`);
        const againUrl = new URL(db.url);
        againUrl.pathname = `/${againName}`;
        await run(join(binDir as string, 'pg_restore'), ['-d', againUrl.toString(), again]).catch(() => undefined);
        const back = ignoreIdleErrors(new pg.Pool({ connectionString: againUrl.toString(), max: 2 }));
        try {
          const boundary = (await migrate(back)).restored.boundary;
          expect(boundary).toMatchObject({ id: 3, changesUpTo: newIds.at(-1) });
          expect(await exportedChangeIds(back)).toEqual([...restoredIds, ...newIds]);
          expect(await transactionPage(back, `${renamed.txid}@1`)).toEqual([
            { id: renamed.id, txid: `${renamed.txid}@1` },
          ]);
          expect(await transactionPage(back, `${renamed.txid}@2`)).toEqual([{ id: reused, txid: `${renamed.txid}@2` }]);
          expect(await transactionPage(back, renamed.txid)).toEqual([]);
          await back.query(`INSERT INTO items VALUES (5, 'fifth')`);
          expect((await seal(back, 'auditrum')).rows).toBe(1);
          expect(await verify(back, 'auditrum')).toMatchObject({ ok: true, unsealed: 0, problems: [] });
        } finally {
          await back.end();
          await db.pool.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(againName)} WITH (FORCE)`);
        }
      } finally {
        await elsewhere.end();
      }
    } finally {
      await cluster.stop();
    }
  });
});

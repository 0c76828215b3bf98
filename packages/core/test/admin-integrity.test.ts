import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { Checkpoint } from '@auditrum/core';
import {
  createAuditrum,
  ed25519PrivateKey,
  erase,
  harden,
  integrityStatus,
  keyFingerprint,
  purge,
  seal,
  verify,
  withAuditContext,
} from '@auditrum/core';
import type { AdminErrorBody, AdminHandler, AdminScope, IntegrityResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../src/admin/cursor.js';

// The two-role set-up: the application's non-superuser role owns and writes a tracked table and is the admin UI's
// pool (after harden it may read every log table); a non-superuser admin role owns the schema and seals, verifies,
// purges and erases. A third role, granted only what docs/admin.md lists for the change screens, cannot read the
// chain's tables.
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
// A plain login role as well (useAdminRole's: nothing granted until the tests grant it).
const readerRole = useAdminRole(db);
let app: pg.Pool;
let owner: pg.Pool;
let reader: pg.Pool;
let admin: AdminHandler<{ scope?: AdminScope }>;
let readerAdmin: AdminHandler<{ scope?: AdminScope }>;
let signedCheckpoint: Checkpoint | undefined;
const signingKey = ed25519PrivateKey(
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
  'test key',
);

async function call(path: string, query: Record<string, string> = {}, scope?: AdminScope, handler = admin) {
  const response = await handler({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: scope === undefined ? {} : { scope },
  });
  return { status: response.status, body: JSON.parse(String(response.body)) as unknown };
}

async function status(query: Record<string, string> = {}): Promise<IntegrityResponse & { readable: true }> {
  const response = await call('api/integrity', query);
  if (response.status !== 200) throw new Error(`api/integrity: ${response.status} ${JSON.stringify(response.body)}`);
  const body = response.body as IntegrityResponse;
  if (!body.readable) throw new Error(`api/integrity unreadable: ${JSON.stringify(body)}`);
  return body;
}

async function refused(path: string, query: Record<string, string>, scope?: AdminScope) {
  const response = await call(path, query, scope);
  return { status: response.status, error: (response.body as AdminErrorBody).error };
}

async function changeCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM auditrum.changes');
  return rows[0]?.n ?? -1;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  // Instruments the pool, so that its statements carry the audit context.
  createAuditrum({ pool: app, partitions: false });
  owner = adminRole.openPool({ max: 2 });
  reader = readerRole.openPool({ max: 1 });
  await app.query('CREATE TABLE customers (id int PRIMARY KEY, name text, email text)');
  await db.pool.query(`SELECT auditrum.track('customers')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
  // What docs/admin.md asks for the change screens, and no more.
  await db.pool.query(
    `GRANT USAGE ON SCHEMA auditrum TO ${readerRole.name};
     GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests TO ${readerRole.name}`,
  );
  const authorize = () => true;
  const scope = (request: { scope?: AdminScope }) => request.scope;
  admin = createAdminRoutes({ pool: app, authorize, scope, assetsDir: '/nonexistent' });
  readerAdmin = createAdminRoutes({ pool: reader, authorize, scope, assetsDir: '/nonexistent' });
  await app.query(`INSERT INTO customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bo', 'bo@example.com')`);
  await app.query(`UPDATE customers SET email = 'ann@shop.test' WHERE id = 1`);
  // A row 14 months old (in the default partition: no partition for that month), for purge to remove.
  await db.pool.query(
    `INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key) VALUES (now() - interval '14 months', 1, 'INSERT', '99')`,
  );
});

describe('the integrity status', () => {
  it('before any seal: never sealed, never verified, nothing purged or erased, every row waiting', async () => {
    const body = await status();
    expect(body).toEqual({
      readable: true,
      checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      maxSealAgeHours: 24,
      chain: { links: '0', unsealed: await changeCount(), unsealedEstimated: false, seals: 0 },
      sealState: 'never',
      lastSeal: null,
      lastSignedSeal: null,
      lastVerification: null,
      lastCheckpointVerification: null,
      purges: { total: 0, recent: [] },
      erasures: { total: 0, items: [], nextCursor: null },
    });
    expect(body.chain.unsealed).toBe(4);
  });

  it('a last seal older than doctor’s 24 hours is stale', async () => {
    // An empty seal run 25 hours ago (the table is append-only, not the time: its owner may write any sealed_at).
    await owner.query(
      `INSERT INTO auditrum.seals (sealed_at, rows, last_seq, xid_horizon, xid_next, ids_before, ids_after)
       VALUES (now() - interval '25 hours', 0, 0, 0, 0, 0, 0)`,
    );
    const body = await status();
    expect(body.sealState).toBe('stale');
    expect(body.lastSeal).toEqual({
      id: '1',
      sealedAt: expect.any(String),
      sealedBy: adminRole.name,
      rows: 0,
      lastSeq: '0',
      signed: false,
      checkpointKey: null,
      ageHours: expect.any(Number),
    });
    expect(body.lastSeal?.ageHours).toBeGreaterThan(24);
    expect(body.lastSeal?.ageHours).toBeLessThan(26);
    expect(Date.parse(body.checkedAt) - Date.parse(body.lastSeal?.sealedAt ?? '')).toBeGreaterThan(25 * 3600_000 - 1);
  });

  it('after a signed seal: recent, signed with the key’s fingerprint, every row in the chain', async () => {
    const sealed = await seal(owner, 'auditrum', { signingKey });
    signedCheckpoint = sealed.checkpoint;
    expect(sealed.rows).toBe(4);
    const body = await status();
    expect(body.sealState).toBe('recent');
    expect(body.chain).toEqual({ links: '4', unsealed: 0, unsealedEstimated: false, seals: 2 });
    expect(body.lastSeal).toEqual({
      id: sealed.sealId,
      sealedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      sealedBy: adminRole.name,
      rows: 4,
      lastSeq: '4',
      signed: true,
      checkpointKey: keyFingerprint(signingKey),
      ageHours: expect.any(Number),
    });
    // The same instant as seal() returned (to the millisecond JavaScript keeps).
    expect(body.lastSeal?.sealedAt.slice(0, 23)).toBe(sealed.sealedAt.toISOString().slice(0, 23));
    expect(body.lastSeal?.ageHours).toBeLessThan(1);
    expect(body.lastSignedSeal).toEqual(body.lastSeal);
  });

  it('a later seal without a key is the last seal; the signed one stays the last signed', async () => {
    const signedId = (await status()).lastSignedSeal?.id;
    await app.query(`INSERT INTO customers VALUES (3, 'Cy', NULL)`);
    expect((await status()).chain).toEqual({ links: '4', unsealed: 1, unsealedEstimated: false, seals: 2 });
    const sealed = await seal(owner, 'auditrum');
    const body = await status();
    expect(body.chain).toEqual({ links: '5', unsealed: 0, unsealedEstimated: false, seals: 3 });
    expect(body.lastSeal).toMatchObject({
      id: sealed.sealId,
      rows: 1,
      lastSeq: '5',
      signed: false,
      checkpointKey: null,
    });
    expect(body.lastSignedSeal).toMatchObject({ id: signedId, lastSeq: '4', signed: true });
  });

  it('lists the purges recorded, newest first, with what each removed', async () => {
    const result = await purge(owner, 'auditrum', { olderThan: '13 months' });
    expect(result.logs.map((log) => [log.log, log.rows])).toEqual([
      ['changes', 1],
      ['api_requests', 0],
    ]);
    const body = await status();
    const run = (log: string, rows: number) => ({
      id: expect.stringMatching(/^\d+$/),
      purgedAt: expect.stringMatching(/Z$/),
      purgedBy: adminRole.name,
      log,
      olderThan: '13 months',
      cutoff: result.cutoff.toISOString().replace(/Z$/, ''),
      droppedPartitions: [],
      rows,
      finishedAt: expect.stringMatching(/Z$/),
    });
    expect(body.purges.total).toBe(2);
    const recent = body.purges.recent.map((p) => ({ ...p, cutoff: p.cutoff.slice(0, 23) }));
    expect(recent).toEqual([run('api_requests', 0), run('changes', 1)]);
    expect(Number(body.purges.recent[0]?.id)).toBeGreaterThan(Number(body.purges.recent[1]?.id));
    // The purged row's link stays: the chain keeps its length, and nothing waits for a seal.
    expect(body.chain).toEqual({ links: '5', unsealed: 0, unsealedEstimated: false, seals: 3 });
  });
});

describe('verify runs and erasures', () => {
  it('shows the last verify run and the last one given a checkpoint file, as verify recorded them', async () => {
    const publicKey = createPublicKey(signingKey);
    const withFile = await verify(owner, 'auditrum', { checkpoints: [signedCheckpoint as Checkpoint], publicKey });
    expect(withFile).toMatchObject({ ok: true, links: '5' });
    const plain = await verify(owner, 'auditrum');
    const body = await status();
    const run = (id: string | null, fields: object) => ({
      id,
      verifiedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      verifiedBy: adminRole.name,
      links: '5',
      problems: 0,
      erased: 0,
      ageHours: expect.any(Number),
      ...fields,
    });
    expect(body.lastVerification).toEqual(
      run(plain.verificationId, { checkpoints: null, checkpointFailures: null, newestCheckpointAt: null }),
    );
    expect(body.lastCheckpointVerification).toEqual(
      run(withFile.verificationId, { checkpoints: 1, checkpointFailures: 0, newestCheckpointAt: expect.any(String) }),
    );
    expect(Date.parse(body.lastCheckpointVerification?.newestCheckpointAt ?? '')).toBe(
      Date.parse(signedCheckpoint?.time ?? ''),
    );
    // The application's role verifies as well, but may not record it: the panel keeps the admin's last run.
    expect((await verify(app, 'auditrum')).verificationId).toBeNull();
    expect((await status()).lastVerification?.id).toBe(plain.verificationId);
  });

  it('lists erasures newest first, a page at a time, each with who, why, whose values and what it touched', async () => {
    await withAuditContext({ actor: { id: 'u-9', label: 'dee@example.com' }, requestId: 'req-dee' }, () =>
      app.query(`INSERT INTO customers VALUES (4, 'Dee', 'dee@example.com')`),
    );
    const byActor = await erase(owner, 'auditrum', {
      subject: { actorId: 'u-9' },
      reason: 'GDPR request 118',
      requestedBy: 'dpo@shop.test',
    });
    const byRow = await erase(owner, 'auditrum', {
      subject: { table: 'public.customers', key: '2', columns: ['id', 'email'] },
      reason: 'customer left',
    });
    expect([byActor.changes, byRow.changes]).toEqual([1, 1]);
    const event = (id: string | null, fields: object) => ({
      id,
      erasedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      erasedBy: adminRole.name,
      changes: 1,
      apiRequests: 0,
      ...fields,
    });
    const rowEvent = event(byRow.erasureId, {
      actor: null,
      reason: 'customer left',
      // The key is not kept once a key column is erased; the columns in name order.
      subject: { table: 'public.customers', key: '[erased]', columns: ['email', 'id'] },
      actorPseudonym: null,
      keyPseudonym: `erased:${byRow.erasureId}`,
    });
    const actorEvent = event(byActor.erasureId, {
      actor: 'dpo@shop.test',
      reason: 'GDPR request 118',
      // Not the actor id: with it, the pseudonym would lead back to the person.
      subject: { actor_id: '[erased]' },
      actorPseudonym: `erased:${byActor.erasureId}`,
      keyPseudonym: null,
    });
    const first = await status({ limit: '1' });
    expect(first.erasures).toEqual({ total: 2, items: [rowEvent], nextCursor: expect.any(String) });
    const second = await status({ limit: '1', cursor: first.erasures.nextCursor as string });
    expect(second.erasures).toEqual({ total: 2, items: [actorEvent], nextCursor: null });
    expect((await status()).erasures.items).toEqual([rowEvent, actorEvent]);
    // Sealed before its erasure, customer 2's row is reported erased by the next verify, and the panel says so.
    const checked = await verify(owner, 'auditrum');
    expect(checked).toMatchObject({ ok: true, problems: [] });
    expect((await status()).lastVerification).toMatchObject({ id: checked.verificationId, problems: 0, erased: 1 });
  });

  it('names the erasures of a change, and which of them gave its actor or its key a pseudonym', async () => {
    const { rows } = await db.pool.query<{ id: string; actor_id: string | null; row_key: string }>(
      `SELECT c.id::text, c.actor_id, c.row_key FROM auditrum.changes c
       WHERE c.id IN (SELECT change_id FROM auditrum.erased_changes) ORDER BY c.id`,
    );
    const [erasedRow, erasedActor] = rows.map((row) => ({ ...row }));
    const [rowErasure, actorErasure] = ['2', '1'];
    expect(erasedRow?.row_key).toBe(`erased:${rowErasure}`);
    expect(erasedActor?.actor_id).toBe(`erased:${actorErasure}`);
    const ofRow = (await call('api/erasures', { change: erasedRow?.id as string })).body;
    expect(ofRow).toMatchObject({ marker: '[erased]', actorErasure: null, keyErasure: rowErasure });
    expect((ofRow as { erasures: { id: string }[] }).erasures.map((e) => e.id)).toEqual([rowErasure]);
    const ofActor = (await call('api/erasures', { change: erasedActor?.id as string })).body;
    expect(ofActor).toMatchObject({ marker: '[erased]', actorErasure, keyErasure: null });
    // A change an application made under an actor id that looks like a pseudonym is not an erased one.
    await withAuditContext({ actor: { id: 'erased:1' } }, () =>
      app.query(`UPDATE customers SET name = 'Cy2' WHERE id = 3`),
    );
    const { rows: named } = await db.pool.query<{ id: string }>(
      `SELECT max(id)::text AS id FROM auditrum.changes WHERE actor_id = 'erased:1'`,
    );
    expect((await call('api/erasures', { change: named[0]?.id as string })).body).toEqual({
      erasures: [],
      marker: '[erased]',
      actorErasure: null,
      keyErasure: null,
    });
  });
  it('takes the newest of ten and more runs by their id as a number (10 after 9)', async () => {
    for (let i = 0; i < 9; i++) await seal(owner, 'auditrum');
    for (let i = 0; i < 9; i++) await verify(owner, 'auditrum');
    for (let i = 0; i < 5; i++) await purge(owner, 'auditrum', { olderThan: '13 months' });
    const { rows } = await db.pool.query<{ seal: string; verification: string; purges: string[] }>(
      `SELECT (SELECT max(id)::text FROM auditrum.seals) AS seal,
         (SELECT max(id)::text FROM auditrum.verifications) AS verification,
         ARRAY(SELECT p.id::text FROM auditrum.purges p ORDER BY p.id DESC) AS purges`,
    );
    const newest = rows[0] as { seal: string; verification: string; purges: string[] };
    expect(Number(newest.seal)).toBeGreaterThanOrEqual(10);
    expect(Number(newest.verification)).toBeGreaterThanOrEqual(10);
    const body = await status();
    expect(body.lastSeal?.id).toBe(newest.seal);
    expect(body.lastVerification?.id).toBe(newest.verification);
    expect(body.purges).toMatchObject({ total: 12 });
    expect(body.purges.recent.map((p) => p.id)).toEqual(newest.purges);
  });
});

describe('who may see it', () => {
  it('a role that may not read the chain’s tables gets readable: false naming each, not an error', async () => {
    const response = await call('api/integrity', {}, undefined, readerAdmin);
    expect(response).toEqual({
      status: 200,
      body: {
        readable: false,
        role: readerRole.name,
        missing: ['auditrum.seals', 'auditrum.verifications', 'auditrum.erasures', 'auditrum.purges', 'auditrum.chain'],
      },
    });
    // The same from the library.
    expect(await integrityStatus(reader, 'auditrum')).toEqual(response.body);
  });

  it('the erasures of a change: 403 naming the tables for that role', async () => {
    const response = await call('api/erasures', { change: '1' }, undefined, readerAdmin);
    expect(response.status).toBe(403);
    expect((response.body as AdminErrorBody).error.message).toBe(
      "the admin's database role may not read auditrum.erasures, auditrum.erased_changes",
    );
  });

  it('a scope narrowed to tables or to one actor may not see the panel (it covers the whole log)', async () => {
    for (const scope of [{ tables: ['public.customers'] }, { actor: 'u-1' }]) {
      expect(await refused('api/integrity', {}, scope)).toEqual({
        status: 403,
        error: {
          code: 'forbidden',
          message:
            'your scope shows part of the log; the integrity panel (the chain, verify runs, purges, erasures) covers all of it',
        },
      });
    }
    // Hiding only the API log narrows nothing the panel shows.
    expect((await call('api/integrity', {}, { requests: false })).status).toBe(200);
  });

  it('the erasures of a change outside the scope are not found, as the change itself', async () => {
    const { rows } = await db.pool.query<{ id: string }>('SELECT min(id)::text AS id FROM auditrum.changes');
    const id = rows[0]?.id as string;
    expect(await call('api/erasures', { change: id })).toEqual({
      status: 200,
      body: { erasures: [], marker: '[erased]', actorErasure: null, keyErasure: null },
    });
    expect((await refused('api/erasures', { change: id }, { tables: ['public.other'] })).status).toBe(404);
    expect((await refused('api/erasures', { change: '999999' })).error).toEqual({
      code: 'not_found',
      message: 'change 999999 not found',
    });
  });
});

describe('bad parameters', () => {
  it('api/integrity refuses a bad limit or cursor, naming it', async () => {
    const cases: [Record<string, string>, string, string][] = [
      [{ limit: '0' }, 'limit', 'limit: must be from 1 to 200'],
      [{ limit: '201' }, 'limit', 'limit: must be from 1 to 200'],
      [{ limit: 'ten' }, 'limit', 'limit: must be a whole number from 1 to 200'],
      [{ cursor: 'nope!' }, 'cursor', 'cursor: not a cursor of this list; pass nextCursor of the previous page as is'],
      [
        { cursor: encodeCursor('changes', '5') },
        'cursor',
        'cursor: not a cursor of this list; pass nextCursor of the previous page as is',
      ],
    ];
    for (const [query, parameter, message] of cases) {
      expect(await refused('api/integrity', query)).toEqual({
        status: 400,
        error: { code: 'bad_parameter', parameter, message },
      });
    }
    const repeated = await call('api/integrity', {});
    expect(repeated.status).toBe(200);
  });

  it('api/erasures refuses a missing, non-numeric or out-of-range change id', async () => {
    for (const [query, message] of [
      [{}, 'change: is required'],
      [{ change: 'abc' }, 'change: must be a change id (digits)'],
      [{ change: '-1' }, 'change: must be a change id (digits)'],
      [{ change: '9223372036854775808' }, 'change: must be a change id (digits)'],
    ] as const) {
      expect(await refused('api/erasures', query)).toEqual({
        status: 400,
        error: { code: 'bad_parameter', parameter: 'change', message },
      });
    }
  });

  it('integrityStatus() refuses a bad page of erasures before reading anything', async () => {
    for (const options of [{ erasuresLimit: 0 }, { erasuresLimit: 1.5 }, { erasuresLimit: 201 }]) {
      await expect(integrityStatus(app, 'auditrum', options)).rejects.toThrow(
        /^auditrum: erasuresLimit must be a whole number from 1 to 200/,
      );
    }
    for (const erasuresBefore of ['x', '0', '1e3', '99999999999999999999']) {
      await expect(integrityStatus(app, 'auditrum', { erasuresBefore })).rejects.toThrow(
        /^auditrum: erasuresBefore must be an erasure id/,
      );
    }
  });
});

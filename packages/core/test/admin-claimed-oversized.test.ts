import { createHash, randomBytes } from 'node:crypto';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import type {
  ActorResponse,
  AdminHandler,
  Change,
  ChangeResponse,
  ChangesResponse,
  HistoryResponse,
} from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What the admin API shows of the two things capture stores instead of the usual: context that a role which is not
// the application's claimed in a comment (kept apart, never as the actor), and values over the table's size limit
// (a marker with size and hash). The writes come from real non-superuser roles; the admin reads as a role with
// only the grants docs/admin.md asks for.
const db = useTestDatabase();
const app = useAppRole(db);
const suffix = randomBytes(4).toString('hex');
const analyst = `analyst_${suffix}`; // may UPDATE the ledger; not an application role
const reader = `reader_${suffix}`; // the admin's pool
const PASSWORD = randomBytes(9).toString('hex');
const FORGED = '/*auditrum:{"actor_id":"ceo","source":"http","reason":"approved"}*/';
// A forger that also claims to be the application's database user and to carry a request.
const FORGED_DB_USER =
  '/*auditrum:{"actor_id":"ceo","request_id":"req-ceo","db_user":"postgres","actor_label":"CEO"}*/';
const LIMIT = 72;

let appPool: pg.Pool;
let analystPool: pg.Pool;
let admin: AdminHandler<unknown>;

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

async function json<T>(path: string, query: Record<string, string> = {}): Promise<T> {
  const response = await admin({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: undefined,
  });
  const text = typeof response.body === 'string' ? response.body : String(response.body);
  if (response.status !== 200) throw new Error(`${path} ${JSON.stringify(query)}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

async function lastChangeId(table: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    'SELECT id::text AS id FROM auditrum.change_log WHERE table_name = $1 ORDER BY id DESC LIMIT 1',
    [table],
  );
  if (!rows[0]) throw new Error(`no change of ${table}`);
  return rows[0].id;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const oversized = (text: string) => ({ $auditrum: 'oversized', bytes: Buffer.byteLength(text), sha256: sha256(text) });

beforeAll(async () => {
  for (const role of [analyst, reader]) await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD}'`);
  appPool = app.openPool({ max: 1 });
  await appPool.query('CREATE TABLE ledger (id int PRIMARY KEY, amount numeric(10,2) NOT NULL, memo text)');
  await appPool.query(`GRANT SELECT, UPDATE ON ledger TO ${analyst}`);
  await appPool.query('CREATE TABLE docs (id int PRIMARY KEY, title text, body text, meta jsonb)');
  const audit = createAuditrum({ pool: db.pool, partitions: false });
  await audit.track('public.ledger');
  await audit.track('public.docs', { maxValueBytes: LIMIT });
  // The grants docs/admin.md gives for the admin's pool, and nothing else.
  await db.pool.query(`GRANT USAGE ON SCHEMA auditrum TO ${reader}`);
  await db.pool.query(`GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests TO ${reader}`);
  const readerPool = db.openPool({ connectionString: urlAs(reader), max: 2 });
  admin = createAdminRoutes({ pool: readerPool, authorize: () => true });
  analystPool = db.openPool({ connectionString: urlAs(analyst), max: 1, application_name: 'psql' });
});

afterAll(async () => {
  await Promise.all([analystPool, appPool].filter((pool) => pool && !pool.ending).map((pool) => pool.end()));
  for (const role of [analyst, reader]) {
    await db.pool.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await db.pool.query(`DROP ROLE IF EXISTS ${role}`);
  }
});

describe('claimed context: a comment from a role that is not the application', () => {
  let forgedId: string;

  beforeAll(async () => {
    await withAuditContext({ actor: { id: 'u-anna', label: 'anna' }, source: 'http', requestId: 'req-1' }, () =>
      appPool.query(`INSERT INTO ledger VALUES (1, 10.00, 'opening')`),
    );
    await analystPool.query(`${FORGED}UPDATE ledger SET amount = 1000000 WHERE id = 1`);
    forgedId = await lastChangeId('ledger');
  });

  it('gives the change detail the claimed fields as claimed, the real database user, and no actor', async () => {
    const { change, request } = await json<ChangeResponse>(`api/changes/${forgedId}`);
    expect(change).toMatchObject({
      operation: 'UPDATE',
      oldValues: { amount: 10 },
      newValues: { amount: 1000000 },
      actor: null,
      requestId: null,
      reason: null,
      source: 'db',
      claimed: { actor_id: 'ceo', source: 'http', reason: 'approved' },
      oversized: null,
    });
    expect(change.context).toEqual({
      source: 'db',
      db_user: analyst,
      application_name: 'psql',
      client_addr: '127.0.0.1',
      claimed: { actor_id: 'ceo', source: 'http', reason: 'approved' },
    });
    expect(request).toBeNull();
  });

  it('lists it under source db, never under the claimed actor or source; the claimed actor does not exist', async () => {
    const byClaimedActor = await json<ChangesResponse>('api/changes', { actor: 'ceo' });
    expect(byClaimedActor.items).toEqual([]);
    const byClaimedSource = await json<ChangesResponse>('api/changes', { source: 'http', table: 'public.ledger' });
    expect(byClaimedSource.items.map((item) => item.actor?.id)).toEqual(['u-anna']);
    const direct = await json<ChangesResponse>('api/changes', { source: 'db', table: 'public.ledger' });
    expect(direct.items.map((item) => item.id)).toEqual([forgedId]);
    expect(direct.items[0]).toMatchObject({ actor: null, claimed: { actor_id: 'ceo' } });
    const actor = await admin({
      method: 'GET',
      path: 'api/actors/ceo',
      query: new URLSearchParams(),
      headers: {},
      basePath: '/audit-admin',
      raw: undefined,
    });
    expect(actor.status).toBe(404);
    expect((await json<ActorResponse>('api/actors/u-anna')).changeCount).toBe(1);
  });

  it('exports it with no actor and the claim inside its context only', async () => {
    const exported = async (format: string) => {
      const response = await admin({
        method: 'GET',
        path: 'api/changes/export',
        query: new URLSearchParams({ format, source: 'db', table: 'public.ledger' }),
        headers: {},
        basePath: '/audit-admin',
        raw: undefined,
      });
      expect(response.status).toBe(200);
      let text = '';
      for await (const chunk of response.body as AsyncIterable<string>) text += chunk;
      return text;
    };
    const [line, ...rest] = (await exported('ndjson')).trim().split('\n');
    expect(rest).toEqual([]);
    expect(JSON.parse(line ?? '')).toMatchObject({ id: forgedId, actor: null, requestId: null, reason: null });
    const [header, row] = (await exported('csv')).trim().split('\r\n');
    expect(header?.split(',').slice(8, 14)).toEqual([
      'actor_id',
      'actor_label',
      'actor_erasure',
      'request_id',
      'source',
      'reason',
    ]);
    expect(row?.split(',').slice(8, 14)).toEqual(['', '', '', '', 'db', '']);
    expect(row).toContain('""claimed"":{""reason"":""approved"",""source"":""http"",""actor_id"":""ceo""}');
  });

  it("keeps it claimed in the row's history", async () => {
    const history = await json<HistoryResponse>('api/history', { table: 'public.ledger', key: '1' });
    expect(
      history.versions.map(({ change, state }) => [change.actor?.id ?? null, change.source, change.claimed, state]),
    ).toEqual([
      ['u-anna', 'http', null, { id: 1, amount: 10, memo: 'opening' }],
      [
        null,
        'db',
        { actor_id: 'ceo', source: 'http', reason: 'approved' },
        { id: 1, amount: 1000000, memo: 'opening' },
      ],
    ]);
  });

  it('cannot overwrite the real database user, nor carry a request id or label into the change', async () => {
    await analystPool.query(`${FORGED_DB_USER}UPDATE ledger SET memo = 'adjusted' WHERE id = 1`);
    const { change } = await json<ChangeResponse>(`api/changes/${await lastChangeId('ledger')}`);
    expect(change).toMatchObject({ actor: null, requestId: null, source: 'db' });
    expect(change.context).toMatchObject({ db_user: analyst });
    expect(change.claimed).toEqual({ actor_id: 'ceo', request_id: 'req-ceo', db_user: 'postgres', actor_label: 'CEO' });
    expect((await json<ChangesResponse>('api/changes', { request: 'req-ceo' })).items).toEqual([]);
  });

  it("trusts the same comment from the application's role: no claimed context then", async () => {
    await appPool.query(`${FORGED}UPDATE ledger SET memo = 'by the app' WHERE id = 1`);
    const { change } = await json<ChangeResponse>(`api/changes/${await lastChangeId('ledger')}`);
    expect(change).toMatchObject({
      actor: { id: 'ceo', label: null },
      source: 'http',
      reason: 'approved',
      claimed: null,
    });
  });
});

describe('values over the table’s size limit', () => {
  const BIG = 'x'.repeat(100);
  const BIGGER = 'ü'.repeat(40); // 80 bytes in UTF-8
  // A json value of the marker's shape, small: a real value, not a marker.
  const LOOKALIKE = { $auditrum: 'oversized', bytes: 1, sha256: 'x' };
  let versions: HistoryResponse['versions'];

  beforeAll(async () => {
    await withAuditContext({ actor: { id: 'u-anna' } }, async () => {
      await appPool.query(`INSERT INTO docs VALUES (1, 'spec', $1, NULL)`, [BIG]);
      await appPool.query(`UPDATE docs SET body = 'short' WHERE id = 1`);
      await appPool.query(`UPDATE docs SET body = $1, title = 'spec 2' WHERE id = 1`, [BIGGER]);
      await appPool.query('INSERT INTO docs VALUES (2, NULL, NULL, $1)', [JSON.stringify(LOOKALIKE)]);
    });
    versions = (await json<HistoryResponse>('api/history', { table: 'public.docs', key: '1' })).versions;
  });

  it('shows a change with the marker, its size and hash, and names the marked columns', async () => {
    const [insert, toShort, toBigger] = versions.map((version) => version.change) as [Change, Change, Change];
    const detail = (await json<ChangeResponse>(`api/changes/${insert.id}`)).change;
    expect(detail.newValues).toEqual({ id: 1, title: 'spec', body: oversized(BIG), meta: null });
    expect(detail.oversized).toEqual({ old: [], new: ['body'] });
    expect(toShort).toMatchObject({
      oldValues: { body: oversized(BIG) },
      newValues: { body: 'short' },
      changedColumns: ['body'],
      oversized: { old: ['body'], new: [] },
    });
    expect(toBigger).toMatchObject({
      oldValues: { body: 'short', title: 'spec' },
      newValues: { body: oversized(BIGGER), title: 'spec 2' },
      oversized: { old: [], new: ['body'] },
    });
    expect(toBigger.changedColumns?.sort()).toEqual(['body', 'title']);
    expect(oversized(BIGGER).bytes).toBe(80);
  });

  it('does not take a small json value of the same shape for a marker', async () => {
    const [lookalike] = (await json<ChangesResponse>('api/changes', { table: 'public.docs', key: '2' })).items;
    expect(lookalike).toMatchObject({ newValues: { meta: LOOKALIKE }, oversized: null });
  });

  it("marks the oversized columns of each version's state and of the state at a time", async () => {
    expect(versions.map((version) => [version.state?.body, version.oversized])).toEqual([
      [oversized(BIG), ['body']],
      ['short', []],
      [oversized(BIGGER), ['body']],
    ]);
    const history = (at: string) => json<HistoryResponse>('api/history', { table: 'public.docs', key: '1', at });
    const [first, second] = versions;
    const atFirst = await history(first?.change.changedAt ?? '');
    expect(atFirst.stateAt).toEqual({ id: 1, title: 'spec', body: oversized(BIG), meta: null });
    expect(atFirst.stateAtOversized).toEqual(['body']);
    const atSecond = await history(second?.change.changedAt ?? '');
    expect(atSecond.stateAt).toMatchObject({ body: 'short' });
    expect(atSecond.stateAtOversized).toEqual([]);
  });
});

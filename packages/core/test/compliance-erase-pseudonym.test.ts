import { contextComment, erase, erasedActorId, harden, seal, verify } from '@auditrum/core';
import type {
  ActorsResponse,
  AdminScope,
  ApiRequestSummary,
  BlameResponse,
  Change,
  FieldHistoryResponse,
} from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// An erased actor's pseudonym (`erased:<erasure id>`) and a real actor the application names the same: actor ids are
// any text. The two-role set-up: the application's non-superuser role writes and is the admin's pool (harden), a
// non-superuser admin role owns the schema and erases.
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let owner: pg.Pool;

/** Alice's erasure, and the real actor whose id is its pseudonym's text. */
let aliceErasure: string;
let pseudonym: string;
/** Change ids: Alice's (erased), the look-alike's (a real actor). */
let aliceChanges: string[];
let lookalikeChanges: string[];

async function asApp(actorId: string, sql: string): Promise<void> {
  await app.query(`${contextComment({ actor: { id: actorId, label: `${actorId} label` }, source: 'http' })} ${sql}`);
}

async function insertApiRequest(requestId: string, actorId: string): Promise<void> {
  await app.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, status, duration_ms, actor_id,
       actor_label, ip, request_body)
     VALUES (now(), $1, 'PUT', '/people/1', 200, 3.5, $2, $3, '203.0.113.7', $4)`,
    [requestId, actorId, `${actorId} label`, { note: requestId }],
  );
}

async function changeIds(actorId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    'SELECT id::text FROM auditrum.changes WHERE actor_id = $1 ORDER BY id',
    [actorId],
  );
  return rows.map((row) => row.id);
}

async function call<T>(path: string, query: Record<string, string> = {}, scope?: AdminScope) {
  const admin = createAdminRoutes({
    pool: app,
    authorize: () => true,
    scope: (request: { scope?: AdminScope }) => request.scope,
    assetsDir: '/nonexistent',
  });
  const response = await admin({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: scope === undefined ? {} : { scope },
  });
  return { status: response.status, body: JSON.parse(String(response.body)) as T };
}

async function changesListed(query: Record<string, string>, scope?: AdminScope) {
  const { status, body } = await call<{ items: Change[] }>('api/changes', query, scope);
  expect(status).toBe(200);
  return body.items.map((c) => ({ id: c.id, actor: c.actor })).reverse();
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  owner = adminRole.openPool({ max: 2 });
  await app.query('CREATE TABLE people (id int PRIMARY KEY, email text, name text)');
  await db.pool.query(`SELECT auditrum.track('people')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
  await asApp('alice-7', `INSERT INTO people VALUES (1, 'alice@example.com', 'Alice')`);
  await asApp('alice-7', `UPDATE people SET name = 'Alice L.' WHERE id = 1`);
  await insertApiRequest('req-alice', 'alice-7');
  await seal(owner, 'auditrum');
  aliceChanges = await changeIds('alice-7');
  const erased = await erase(owner, 'auditrum', { subject: { actorId: 'alice-7' }, reason: 'GDPR request 1' });
  aliceErasure = erased.erasureId as string;
  pseudonym = erasedActorId(aliceErasure);
  // Another person, whom the application names with the pseudonym's text.
  await asApp(pseudonym, `INSERT INTO people VALUES (2, 'eve@example.com', 'Eve')`);
  await asApp(pseudonym, `UPDATE people SET name = 'Eve E.' WHERE id = 2`);
  await insertApiRequest('req-lookalike', pseudonym);
  await seal(owner, 'auditrum');
  lookalikeChanges = (await changeIds(pseudonym)).filter((id) => !aliceChanges.includes(id));
  expect([aliceChanges.length, lookalikeChanges.length]).toEqual([2, 2]);
});

afterAll(async () => {
  await Promise.all([app, owner].map((pool) => pool.end()));
});

describe('a real actor whose id reads as an erasure’s pseudonym', () => {
  it('is the only one the actor filter lists; the erased actor’s changes are the erasure filter’s, marked as erased', async () => {
    const real = { id: pseudonym, label: `${pseudonym} label` };
    expect(await changesListed({ actor: pseudonym })).toEqual(lookalikeChanges.map((id) => ({ id, actor: real })));
    const erasedActor = { id: pseudonym, label: '[erased]', erasure: aliceErasure };
    expect(await changesListed({ erasure: aliceErasure })).toEqual(
      aliceChanges.map((id) => ({ id, actor: erasedActor })),
    );
    // The whole log: each marked for what it is.
    expect(await changesListed({})).toEqual([
      ...aliceChanges.map((id) => ({ id, actor: erasedActor })),
      ...lookalikeChanges.map((id) => ({ id, actor: real })),
    ]);
  });

  it('is marked apart in the exports: the erased actor with its erasure, the real one without', async () => {
    const exported = async (format: string) => {
      const admin = createAdminRoutes({ pool: app, authorize: () => true, assetsDir: '/nonexistent' });
      const response = await admin({
        method: 'GET',
        path: 'api/changes/export',
        query: new URLSearchParams({ format }),
        headers: {},
        basePath: '/audit-admin',
        raw: {},
      });
      let text = '';
      for await (const chunk of response.body as AsyncIterable<Buffer | string>) text += chunk.toString();
      return text.trimEnd().split(/\r?\n/);
    };
    const ndjson = (await exported('ndjson')).map((line) => JSON.parse(line) as Change);
    expect(ndjson.map((c) => [c.id, c.actor]).reverse()).toEqual([
      ...aliceChanges.map((id) => [id, { id: pseudonym, label: '[erased]', erasure: aliceErasure }]),
      ...lookalikeChanges.map((id) => [id, { id: pseudonym, label: `${pseudonym} label` }]),
    ]);
    const [header, ...rows] = await exported('csv');
    const column = header?.split(',').indexOf('actor_erasure') as number;
    expect(column).toBe(10);
    expect(rows.map((row) => row.split(',').slice(8, 11)).reverse()).toEqual([
      ...aliceChanges.map(() => [pseudonym, '[erased]', aliceErasure]),
      ...lookalikeChanges.map(() => [pseudonym, `${pseudonym} label`, '']),
    ]);
  });

  it('takes an id past any erasure’s (over bigint) as a plain actor id', async () => {
    expect(await changesListed({ actor: 'erased:9999999999999999999' })).toEqual([]);
    expect((await call('api/requests', { actor: 'erased:9999999999999999999' })).status).toBe(200);
  });

  it('is suggested for the actor filter as the real actor it is', async () => {
    const { body } = await call<ActorsResponse>('api/actors', { q: 'erased:' });
    expect(body.actors).toEqual([{ id: pseudonym, label: `${pseudonym} label` }]);
  });

  it('has an actor page of its own changes and calls only', async () => {
    const { status, body } = await call(`api/actors/${encodeURIComponent(pseudonym)}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      actor: { id: pseudonym, label: `${pseudonym} label` },
      changeCount: 2,
      requestCount: 1,
    });
  });

  it('is the only one the API log’s actor filter lists; the erased actor’s calls are its erasure’s', async () => {
    const listed = async (query: Record<string, string>) =>
      (await call<{ items: ApiRequestSummary[] }>('api/requests', query)).body.items.map((r) => [r.requestId, r.actor]);
    expect(await listed({ actor: pseudonym })).toEqual([
      ['req-lookalike', { id: pseudonym, label: `${pseudonym} label` }],
    ]);
    expect(await listed({ erasure: aliceErasure })).toEqual([
      ['req-alice', { id: pseudonym, label: '[erased]', erasure: aliceErasure }],
    ]);
  });

  it('sees, when the admin’s scope is that actor, none of the erased actor’s changes or calls', async () => {
    const scope = { actor: pseudonym };
    expect((await changesListed({}, scope)).map((c) => c.id)).toEqual(lookalikeChanges);
    expect((await call(`api/changes/${aliceChanges[0]}`, {}, scope)).status).toBe(404);
    const calls = await call<{ items: ApiRequestSummary[] }>('api/requests', {}, scope);
    expect(calls.body.items.map((r) => r.requestId)).toEqual(['req-lookalike']);
    expect((await call('api/requests/req-alice', {}, scope)).status).toBe(404);
  });

  it('is not labelled erased; the erased actor is', async () => {
    const erasures = async (change: string) =>
      (await call<{ actorErasure: string | null }>('api/erasures', { change })).body.actorErasure;
    expect(await erasures(lookalikeChanges[0] as string)).toBeNull();
    expect(await erasures(aliceChanges[0] as string)).toBe(aliceErasure);
  });

  it('is told apart in blame and in a field’s history', async () => {
    const blamed = async (key: string) =>
      (await call<BlameResponse>('api/blame', { table: 'public.people', key })).body.fields.map((f) => [
        f.field,
        f.change?.actorId,
        f.change?.actorErasure,
      ]);
    expect(await blamed('1')).toEqual(['id', 'email', 'name'].map((field) => [field, pseudonym, aliceErasure]));
    expect(await blamed('2')).toEqual(['id', 'email', 'name'].map((field) => [field, pseudonym, undefined]));
    const history = async (key: string) =>
      (
        await call<FieldHistoryResponse>('api/field-history', { table: 'public.people', key, field: 'name' })
      ).body.entries.map((entry) => [entry.actorId, entry.actorErasure]);
    expect(await history('1')).toEqual([
      [pseudonym, aliceErasure],
      [pseudonym, aliceErasure],
    ]);
    expect(await history('2')).toEqual([
      [pseudonym, undefined],
      [pseudonym, undefined],
    ]);
  });

  it('is erased alone, and the chain still verifies with each row under its own erasure', async () => {
    const result = await erase(owner, 'auditrum', { subject: { actorId: pseudonym }, reason: 'GDPR request 2' });
    expect(result).toMatchObject({ changes: 2, apiRequests: 1, sealed: 2, unmatched: 0 });
    const second = result.erasureId as string;
    expect(await changeIds(pseudonym)).toEqual(aliceChanges);
    expect(await changeIds(erasedActorId(second))).toEqual(lookalikeChanges);
    const { rows } = await db.pool.query<{ erasure_id: string; ids: string[] }>(
      `SELECT erasure_id::text, array_agg(change_id::text ORDER BY change_id) AS ids FROM auditrum.erased_changes
       GROUP BY erasure_id ORDER BY erasure_id`,
    );
    expect(rows).toEqual([
      { erasure_id: aliceErasure, ids: aliceChanges },
      { erasure_id: second, ids: lookalikeChanges },
    ]);
    const { rows: calls } = await db.pool.query(
      `SELECT r.request_id, r.actor_id, r.request_body, e.erasure_id::text AS erasure
       FROM auditrum.api_requests r JOIN auditrum.erased_api_requests e ON e.api_request_id = r.id ORDER BY r.id`,
    );
    expect(calls).toEqual([
      {
        request_id: 'req-alice',
        actor_id: pseudonym,
        request_body: { $auditrum: 'erased', erasure: aliceErasure },
        erasure: aliceErasure,
      },
      {
        request_id: 'req-lookalike',
        actor_id: erasedActorId(second),
        request_body: { $auditrum: 'erased', erasure: second },
        erasure: second,
      },
    ]);
    const verified = await verify(owner, 'auditrum');
    expect(verified.problems).toEqual([]);
    expect(verified.erased.map((e) => [e.changeId, e.erasureId])).toEqual([
      ...aliceChanges.map((id) => [id, aliceErasure]),
      ...lookalikeChanges.map((id) => [id, second]),
    ]);
    // Two erased actors, no real one: none is suggested for the actor filter, which would find none of their changes.
    expect((await call<ActorsResponse>('api/actors', { q: 'erased:' })).body.actors).toEqual([]);
    // Nothing of the erased actor is left to erase under the pseudonym's text.
    await expect(
      erase(owner, 'auditrum', { subject: { actorId: pseudonym }, reason: 'GDPR request 3' }),
    ).rejects.toThrow(/made no change and no API request: nothing erased/);
  });

  it('may not be written into the erasures’ records by the application role', async () => {
    await expect(
      app.query('INSERT INTO auditrum.erased_api_requests (erasure_id, api_request_id) VALUES ($1, 1)', [aliceErasure]),
    ).rejects.toMatchObject({ code: '42501' });
  });
});

describe('a change by an actor named as a row erasure’s pseudonym', () => {
  it('is not labelled with that erasure’s actor pseudonym, though the erasure touched it', async () => {
    const { rows } = await db.pool.query<{ next: string }>(
      `SELECT (coalesce(max(id), 0) + 1)::text AS next FROM auditrum.erasures`,
    );
    const next = rows[0]?.next as string;
    await asApp(erasedActorId(next), `INSERT INTO people VALUES (3, 'cy@example.com', 'Cy')`);
    const erased = await erase(owner, 'auditrum', {
      subject: { table: 'public.people', key: '3', columns: ['email'] },
      reason: 'GDPR request 4',
    });
    expect(erased.erasureId).toBe(next);
    const [change] = await changeIds(erasedActorId(next));
    const { body } = await call('api/erasures', { change: change as string });
    expect(body).toMatchObject({ actorErasure: null, keyErasure: null, erasures: [{ id: next }] });
    expect(await changesListed({ actor: erasedActorId(next) })).toEqual([
      { id: change, actor: { id: erasedActorId(next), label: `${erasedActorId(next)} label` } },
    ]);
  });
});

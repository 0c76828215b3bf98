import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type { FastifyInstance } from 'fastify';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditOptions } from '../src/index.js';
import { apiLogger, auditAdmin, auditContext, auditPlugin, requestId } from '../src/index.js';

// Request ids through Fastify's own genReqId, the options' bad input, and the flush on app.close(), as the
// application's own role.
const db = useTestDatabase();
const role = useAppRole(db);
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let pool: pg.Pool;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  pool = role.openPool({ max: 2 });
  await pool.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await pool.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g`);
  await db.pool.query(`SELECT auditrum.track('public.items')`);
});

afterAll(async () => {
  for (const app of apps) await app.close();
});

/** An app with the plugin and one route that renames item `id` to `request.id` and answers with it. */
async function appWith(
  factory: typeof Fastify,
  options: AuditOptions,
  fastifyOptions: Record<string, unknown> = {},
): Promise<FastifyInstance> {
  const app = factory(fastifyOptions);
  apps.push(app);
  await app.register(auditPlugin({ pool, queue: { flushIntervalMs: 10 }, ...options }));
  app.put<{ Params: { id: string } }>('/items/:id', async (request) => {
    // A new name each time: an update that changes nothing is not a change.
    await pool.query('UPDATE items SET name = $2 WHERE id = $1', [Number(request.params.id), request.id]);
    return { id: request.id };
  });
  await app.ready();
  return app;
}

async function changeIds(key: string): Promise<(string | null)[]> {
  const { rows } = await db.pool.query<{ request_id: string | null }>(
    `SELECT request_id FROM auditrum.change_log WHERE table_name = 'items' AND row_key = $1 ORDER BY id`,
    [key],
  );
  return rows.map((row) => row.request_id);
}

describe('request ids on Fastify', () => {
  it("are Fastify's own: request.id, the echoed header, the change and Fastify's log lines all carry one id", async () => {
    const lines: { reqId?: string; msg?: string }[] = [];
    const stream = { write: (line: string) => lines.push(JSON.parse(line)) };
    const app = await appWith(Fastify, {}, { logger: { level: 'info', stream }, trustProxy: true });
    const fresh = await app.inject({ method: 'PUT', url: '/items/1' });
    const id = fresh.json<{ id: string }>().id;
    expect(id).toMatch(UUID_V7);
    expect(fresh.headers['x-request-id']).toBe(id);
    const inbound = await app.inject({ method: 'PUT', url: '/items/1', headers: { 'x-request-id': 'inbound-1' } });
    expect([inbound.json(), inbound.headers['x-request-id']]).toEqual([{ id: 'inbound-1' }, 'inbound-1']);
    // Without trustProxy the peer is a client, whose id is not used: Fastify's log line has the fresh id too.
    const direct = await appWith(Fastify, {}, { logger: { level: 'info', stream } });
    const claimed = await direct.inject({ method: 'PUT', url: '/items/1', headers: { 'x-request-id': 'claimed-1' } });
    const own = claimed.json<{ id: string }>().id;
    expect([own, claimed.headers['x-request-id']]).toEqual([expect.stringMatching(UUID_V7), own]);
    expect(await changeIds('1')).toEqual([id, 'inbound-1', own]);
    const incoming = lines.filter((line) => line.msg === 'incoming request').map((line) => line.reqId);
    expect(incoming).toEqual([id, 'inbound-1', own]);
  });

  it('trust an inbound id from a trusted proxy when the plugin is registered inside an encapsulated context', async () => {
    for (const [trustProxy, trusted] of [
      [true, true],
      [false, false],
    ] as const) {
      const app = Fastify({ trustProxy });
      apps.push(app);
      await app.register(async (child) => {
        await child.register(auditPlugin({ pool, queue: { flushIntervalMs: 10 } }));
        child.put<{ Params: { id: string } }>('/items/:id', async (request) => ({ id: request.id }));
      });
      await app.ready();
      const res = await app.inject({ method: 'PUT', url: '/items/7', headers: { 'x-request-id': 'nested-7' } });
      expect(res.json<{ id: string }>().id).toEqual(trusted ? 'nested-7' : expect.stringMatching(UUID_V7));
    }
  });

  it("trust an inbound id by Fastify's own trustProxy rules: addresses, a function, and not a bare hop count", async () => {
    // inject() comes from 127.0.0.1.
    const cases: [string, unknown, boolean][] = [
      ['loopback', 'loopback', true],
      ['another address', '10.0.0.1', false],
      ['a function of the peer', (address: string) => address === '127.0.0.1', true],
      // Fastify 5 trusts no peer for a hop count alone (it cannot tell a proxy from a client at hop 0).
      ['a hop count', 1, false],
    ];
    for (const [i, [_how, trustProxy, trusted]] of cases.entries()) {
      const app = await appWith(Fastify, {}, { trustProxy });
      const res = await app.inject({ method: 'PUT', url: '/items/6', headers: { 'x-request-id': `proxy-6-${i}` } });
      expect(res.json<{ id: string }>().id).toEqual(trusted ? `proxy-6-${i}` : expect.stringMatching(UUID_V7));
    }
  });

  it('follow the requestId options: another header, an inbound id not trusted, no echo', async () => {
    const app = await appWith(Fastify, { requestId: { header: 'x-correlation-id', trustInbound: false, echo: false } });
    const res = await app.inject({ method: 'PUT', url: '/items/2', headers: { 'x-correlation-id': 'claimed-2' } });
    const { id } = res.json<{ id: string }>();
    expect(id).toMatch(UUID_V7);
    expect([res.headers['x-correlation-id'], res.headers['x-request-id']]).toEqual([undefined, undefined]);
    expect(await changeIds('2')).toEqual([id]);
  });

  it('treat an id Fastify 4 read from its own requestIdHeader (request-id) as inbound: checked, and trusted only if allowed', async () => {
    const trusting = await appWith(Fastify4 as typeof Fastify, {}, { trustProxy: true });
    const valid = await trusting.inject({ method: 'PUT', url: '/items/3', headers: { 'request-id': 'fastify-3' } });
    expect(valid.json()).toEqual({ id: 'fastify-3' });
    const unsafe = await trusting.inject({ method: 'PUT', url: '/items/3', headers: { 'request-id': 'has space' } });
    const fresh = unsafe.json<{ id: string }>().id;
    expect([fresh, unsafe.headers['x-request-id']]).toEqual([expect.stringMatching(UUID_V7), fresh]);
    const distrusting = await appWith(
      Fastify4 as typeof Fastify,
      { requestId: { trustInbound: false } },
      { trustProxy: true },
    );
    const direct = await appWith(Fastify4 as typeof Fastify, {});
    const untrusted = await direct.inject({ method: 'PUT', url: '/items/3', headers: { 'request-id': 'fastify-5' } });
    const own = untrusted.json<{ id: string }>().id;
    expect(own).toMatch(UUID_V7);
    const refused = await distrusting.inject({
      method: 'PUT',
      url: '/items/3',
      headers: { 'request-id': 'fastify-4' },
    });
    expect(refused.json<{ id: string }>().id).toMatch(UUID_V7);
    expect(await changeIds('3')).toEqual(['fastify-3', fresh, own, refused.json<{ id: string }>().id]);
  });
});

describe('the plugins on Fastify', () => {
  it('write the queued API-log rows when the app closes (the onClose hook)', async () => {
    const app = await appWith(Fastify, { queue: { flushIntervalMs: 60_000 } }, { trustProxy: true });
    const res = await app.inject({ method: 'PUT', url: '/items/5', headers: { 'x-request-id': 'on-close-5' } });
    expect(res.statusCode).toBe(200);
    const rows = () => db.pool.query(`SELECT status FROM auditrum.api_requests WHERE request_id = 'on-close-5'`);
    expect((await rows()).rows).toEqual([]);
    await app.close();
    expect((await rows()).rows).toEqual([{ status: 200 }]);
  });

  it('refuse bad options at construction, naming the plugin and the option', () => {
    expect(() => auditPlugin({ pool, nope: 1 } as AuditOptions)).toThrow(/auditPlugin\(\) has no option "nope"/);
    expect(() => auditContext({ getActor: 'user' } as unknown as AuditOptions)).toThrow(
      /auditContext\(\) option "getActor" must be a function/,
    );
    expect(() => requestId({ requestId: { header: 'bad header' } })).toThrow(/requestId\.header must be a valid/);
    expect(() => apiLogger({ pool, bodies: { maxBytes: 0 } })).toThrow(/apiLogger\(\) option "bodies.maxBytes"/);
    expect(() => auditPlugin({ pool, requestId: { echoes: false } } as unknown as AuditOptions)).toThrow(
      /option "requestId" has no "echoes"/,
    );
    expect(() => auditAdmin({ pool } as Parameters<typeof auditAdmin>[0])).toThrow(/`authorize` is missing/);
  });
});

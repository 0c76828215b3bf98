import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuditrum } from '@auditrum/core';
import type { HttpAuditOptions, RequestScope } from '@auditrum/core/http';
import { HttpAudit, rememberedScope, rememberScope } from '@auditrum/core/http';
import { useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';

const db = useTestDatabase();

type Req = IncomingMessage & { user?: unknown };
const servers: Server[] = [];

/** A plain Node server driven by HttpAudit directly, as an adapter would: context and log for every request. */
async function serve(options: HttpAuditOptions<Req> | undefined): Promise<{ base: string; audit: HttpAudit<Req> }> {
  const audit = new HttpAudit<Req>(options, 'test', { context: true, log: true }, (req) => req.user);
  const server = createServer((req: Req, res: ServerResponse) => {
    // As behind a proxy the app trusts: the tests' ids name their rows.
    const id = audit.requestId(req.headers['x-request-id'], undefined, true);
    res.setHeader('x-request-id', id);
    const facts = {
      requestId: id,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      ip: '10.1.1.1',
      userAgent: undefined,
    };
    audit.runInContext({ req, res }, facts, { actor: () => audit.options.getActor(req) }, (scope) => {
      audit.log({
        req,
        res,
        hostReq: req,
        facts,
        outcome: { route: () => '/things/:id', error: () => undefined },
        scope,
      });
      req.user = { id: 'u1', username: 'uma' };
      req.resume();
      req.on('end', () => res.end('{"ok":true}'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, audit };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function rows(): Promise<Record<string, unknown>[]> {
  const { rows } = await db.pool.query(
    'SELECT path, actor_id, actor_label, route, request_body, response_body, ip FROM auditrum.api_requests ORDER BY id',
  );
  return rows;
}

describe('HttpAudit options', () => {
  it('leave out excluded paths (prefixes by whole segment, RegExps) and requests the ignore hook refuses', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const { base, audit } = await serve({
      pool: db.pool,
      exclude: ['/health', /^\/metrics/],
      ignore: (req) => req.headers['x-skip'] === '1',
    });
    for (const path of ['/health', '/health/deep', '/metrics.json', '/healthy', '/kept', '/skipped']) {
      await fetch(`${base}${path}`, { headers: path === '/skipped' ? { 'x-skip': '1' } : {} });
    }
    await audit.close();
    expect((await rows()).map((row) => row.path)).toEqual(['/healthy', '/kept']);
  });

  it('store bodies of every method with bodies: true, none with bodies: false; the actor comes from the user', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const all = await serve({ pool: db.pool, bodies: true });
    await fetch(`${all.base}/with`, {
      method: 'POST',
      body: '{"password":"p","a":1}',
      headers: { 'content-type': 'application/json' },
    });
    await all.audit.close();
    const none = await serve({ pool: db.pool, bodies: false });
    await fetch(`${none.base}/without`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    await none.audit.close();
    expect(await rows()).toEqual([
      {
        path: '/with',
        actor_id: 'u1',
        actor_label: 'uma',
        route: '/things/:id',
        request_body: { password: '[masked]', a: 1 },
        response_body: { ok: true },
        ip: '10.1.1.1',
      },
      {
        path: '/without',
        actor_id: 'u1',
        actor_label: 'uma',
        route: '/things/:id',
        request_body: null,
        response_body: null,
        ip: '10.1.1.1',
      },
    ]);
  });

  it('hold the row of a request aborted while the app works on it, and write it on close() if the app never ends', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const audit = new HttpAudit<Req>({ pool: db.pool }, 'test', { context: true, log: true }, (req) => req.user);
    let handling!: () => void;
    const handled = new Promise<void>((resolve) => {
      handling = resolve;
    });
    let abortSeen!: () => void;
    const aborted = new Promise<void>((resolve) => {
      abortSeen = resolve;
    });
    const server = createServer((req: Req, res: ServerResponse) => {
      const facts = { requestId: 'stuck-1', method: 'GET', url: '/stuck', ip: undefined, userAgent: undefined };
      audit.runInContext({ req, res }, facts, { actor: () => audit.options.getActor(req) }, (scope) => {
        audit.log({ req, res, hostReq: req, facts, outcome: { route: () => '/stuck', error: () => undefined }, scope });
        // The app goes on after the abort (auth finishing late) and never answers.
        res.on('close', () => {
          req.user = { id: 'late', username: 'after the abort' };
          abortSeen();
        });
        handling();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const client = new AbortController();
    const request = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/stuck`, {
      signal: client.signal,
    }).catch(() => undefined);
    await handled;
    client.abort();
    await request;
    await aborted;
    // Not queued at the abort: it waits for the app.
    expect(audit.stats()).toMatchObject({ queued: 0, written: 0 });
    await audit.close();
    expect(await rows()).toEqual([
      {
        path: '/stuck',
        actor_id: 'late',
        actor_label: 'after the abort',
        route: '/stuck',
        request_body: null,
        response_body: null,
        ip: null,
      },
    ]);
  });

  it('hold no more rows of aborted requests for handlers that never answer than the queue has rows', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const audit = new HttpAudit<Req>(
      { pool: db.pool, queue: { maxRows: 2, flushIntervalMs: 10 } },
      'test',
      { context: true, log: true },
      (req) => req.user,
    );
    let started = 0;
    let closed = 0;
    const server = createServer((req: Req, res: ServerResponse) => {
      started += 1;
      const facts = {
        requestId: `stuck-${req.url}`,
        method: 'GET',
        url: req.url ?? '/',
        ip: undefined,
        userAgent: undefined,
      };
      audit.runInContext({ req, res }, facts, { actor: () => undefined }, (scope) => {
        audit.log({
          req,
          res,
          hostReq: req,
          facts,
          outcome: { route: () => undefined, error: () => undefined },
          scope,
        });
        // Never answers, even after the abort (a long poll that only cleans up).
        res.on('close', () => {
          closed += 1;
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const port = (server.address() as AddressInfo).port;
    for (let k = 1; k <= 5; k++) {
      const client = new AbortController();
      const request = fetch(`http://127.0.0.1:${port}/${k}`, { signal: client.signal }).catch(() => undefined);
      await vi.waitFor(() => expect(started).toBe(k));
      client.abort();
      await request;
      await vi.waitFor(() => expect(closed).toBe(k));
    }
    // Before, all five waited 30 s for their handlers, holding their requests; now two wait and three are written.
    await vi.waitFor(async () => expect((await rows()).map((row) => row.path)).toEqual(['/3', '/4', '/5']));
    await audit.close();
    expect((await rows()).map((row) => row.path).sort()).toEqual(['/1', '/2', '/3', '/4', '/5']);
  });

  it('report a throwing getActor to onError and go on without an actor', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const errors: unknown[] = [];
    const { base, audit } = await serve({
      pool: db.pool,
      getActor: () => {
        throw new Error('auth exploded');
      },
      onError: (error) => errors.push(error),
    });
    expect((await fetch(`${base}/a`)).status).toBe(200);
    await audit.close();
    expect((await rows()).map((row) => row.actor_id)).toEqual([null]);
    expect(errors.map(String)).toEqual(['Error: auth exploded']);
  });

  it('report, once, a getActor that returns a promise: no change could wait for it', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const errors: unknown[] = [];
    const { base, audit } = await serve({
      pool: db.pool,
      // A mistake easy to make: before, every change and row went without an actor and nothing said why.
      getActor: (async () => ({ id: 'late' })) as unknown as () => undefined,
      onError: (error) => errors.push(error),
    });
    expect((await fetch(`${base}/a`)).status).toBe(200);
    expect((await fetch(`${base}/b`)).status).toBe(200);
    await audit.close();
    expect((await rows()).map((row) => row.actor_id)).toEqual([null, null]);
    expect(errors.map(String)).toEqual([
      'TypeError: auditrum: test() option "getActor" returned a promise; it must return the actor itself (look the user up in auth middleware before, and read it here)',
    ]);
  });

  it('use DATABASE_URL when given no database, and end the pool they made on close()', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = db.url;
    try {
      const { base, audit } = await serve(undefined);
      await fetch(`${base}/from-env`);
      await audit.close();
      await audit.close();
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
    expect((await rows()).map((row) => row.path)).toEqual(['/from-env']);
  });

  it('use the instance the app created first with createAuditrum() when given no database', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    const instance = createAuditrum({ pool: db.pool, partitions: false });
    try {
      const { base, audit } = await serve(undefined);
      await fetch(`${base}/from-instance`);
      await audit.close();
    } finally {
      await instance.close();
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
    expect((await rows()).map((row) => row.path)).toEqual(['/from-instance']);
    // Closed, the instance is no longer the default: with nothing else, the middleware says what it needs.
    delete process.env.DATABASE_URL;
    try {
      expect(() => new HttpAudit({}, 'apiLogger', { context: false, log: true }, () => undefined)).toThrow(
        'call createAuditrum() first',
      );
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
  });

  /**
   * An API log (no context) behind a stand-in for a body parser that ran before it: the body is read whole, then
   * handed over as parsed (JSON, or the bytes when the request says `x-raw`). Returns the URL to post to.
   */
  async function serveParsedBodies(options: HttpAuditOptions<Req>): Promise<{ url: string; audit: HttpAudit<Req> }> {
    const audit = new HttpAudit<Req>(options, 'test', { context: false, log: true }, () => undefined);
    const server = createServer(async (req: Req, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks);
      const body: unknown = req.headers['x-raw'] ? raw : JSON.parse(raw.toString());
      const facts = { requestId: 'pre-parsed', method: 'POST', url: '/early', ip: undefined, userAgent: undefined };
      audit.log({
        req,
        res,
        hostReq: req,
        facts,
        outcome: { route: () => undefined, error: () => undefined, parsedBody: () => body },
      });
      res.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/early`, audit };
  }

  it('store the parsed body, masked, when a body parser read the body before the middleware', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const { url, audit } = await serveParsedBodies({ pool: db.pool });
    await fetch(url, {
      method: 'POST',
      body: '{"user":"a","Password":"p"}',
      headers: { 'content-type': 'application/json' },
    });
    await fetch(url, {
      method: 'POST',
      body: new Uint8Array([1, 2, 3]),
      headers: { 'content-type': 'application/octet-stream', 'x-raw': '1' },
    });
    await audit.close();
    expect((await rows()).map((row) => row.request_body)).toEqual([
      { user: 'a', Password: '[masked]' },
      { $auditrum: 'binary', contentType: 'application/octet-stream', bytes: 3 },
    ]);
  });

  it('truncate a parsed body over bodies.maxBytes as a raw one, its preview masked', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const { url, audit } = await serveParsedBodies({ pool: db.pool, bodies: { maxBytes: 64 } });
    // Stored whole before, however big: 640 KB here, with the body limit at 64 bytes.
    const body = JSON.stringify({ password: 'hunter2', items: Array.from({ length: 50_000 }, (_, i) => `item ${i}`) });
    await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    await audit.close();
    expect((await rows()).map((row) => row.request_body)).toEqual([
      {
        $auditrum: 'truncated',
        bytes: Buffer.byteLength(body),
        preview: JSON.stringify({ ...JSON.parse(body), password: '[masked]' }).slice(0, 64),
      },
    ]);
  });

  it('never fail or hold a response when the log cannot be written, and report it', async () => {
    const errors: unknown[] = [];
    const dead = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    const { base, audit } = await serve({
      pool: dead,
      queue: { maxRows: 3, flushIntervalMs: 10, closeTimeoutMs: 300 },
      onError: (e) => errors.push(e),
    });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => fetch(`${base}/down/${i}`)));
    expect(answers.map((res) => res.status)).toEqual(Array(10).fill(200));
    await audit.close();
    await dead.end();
    // Three rows kept for retries, seven past the bound dropped; close() gave up on the three.
    expect(audit.stats()).toMatchObject({ queued: 0, written: 0, dropped: 10, failed: 0, peakQueued: 3 });
    expect(errors.map(String)).toEqual([
      expect.stringMatching(/API log cannot reach the database; keeping \d row\(s\) and retrying: .*ECONNREFUSED/),
      expect.stringContaining('API log closed with 3 row(s) not written'),
      expect.stringContaining('API log dropped 7 row(s): the queue was full (3 rows'),
    ]);
  });

  it('are checked at construction, with errors that name the option', () => {
    const make = (options: unknown) =>
      new HttpAudit(
        options as HttpAuditOptions<Req>,
        'auditMiddleware',
        { context: true, log: false },
        () => undefined,
      );
    expect(() => make({ masks: {} })).toThrow('auditMiddleware() has no option "masks"');
    expect(() => make({ queue: { maxrows: 5 } })).toThrow(
      'option "queue" has no "maxrows"; known: maxRows, maxBytes, batchSize',
    );
    expect(() => make({ bodies: { maxbytes: 5 } })).toThrow('option "bodies" has no "maxbytes"');
    expect(() => make({ mask: { key: ['pin'] } })).toThrow('option "mask" has no "key"');
    expect(() => make({ requestId: { headr: 'x' } })).toThrow('option "requestId" has no "headr"');
    expect(() => make({ queue: 5 })).toThrow('option "queue" must be an object');
    expect(() => make('pool')).toThrow('auditMiddleware() takes an options object');
    expect(() => make({ getActor: 'user' })).toThrow('option "getActor" must be a function');
    expect(() => make({ mask: { keys: 'password' } })).toThrow(
      'option "mask.keys" must be a list of non-empty strings',
    );
    expect(() => make({ mask: { censor: 1 } })).toThrow('option "mask.censor" must be a string');
    expect(() => make({ bodies: { maxBytes: 0 } })).toThrow('option "bodies.maxBytes" must be a whole number');
    expect(() => make({ bodies: 'yes' })).toThrow('option "bodies" must be a boolean or an object');
    expect(() => make({ exclude: ['health'] })).toThrow('option "exclude" takes paths starting with "/" or RegExps');
    expect(() => make({ schema: '' })).toThrow('Invalid Auditrum schema name');
    expect(() => make({ requestId: { maxLength: 1000 } })).toThrow('requestId.maxLength');
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      expect(() => new HttpAudit({}, 'apiLogger', { context: false, log: true }, () => undefined)).toThrow(
        'apiLogger() needs a database for the API log: give it { pool } or { auditrum }, call createAuditrum() first, or set DATABASE_URL',
      );
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
  });
});

describe('rememberScope', () => {
  it('keeps the scope of a request for apiLogger() installed apart, adding no property to the request', () => {
    const req = { method: 'GET' };
    const other = { method: 'GET' };
    const scope = { lastActor: { id: 'u1' } } as unknown as RequestScope;
    expect(rememberedScope(req)).toBeUndefined();
    rememberScope(req, scope);
    expect(rememberedScope(req)).toBe(scope);
    expect(rememberedScope(other)).toBeUndefined();
    expect(Reflect.ownKeys(req)).toEqual(['method']);
  });

  it('shares its registry with another copy of the module, and keeps its own when the key holds something else', async () => {
    const key = Symbol.for('auditrum.http-scopes');
    const global = globalThis as { [key]?: unknown };
    const req = {};
    const scope = { lastActor: undefined } as unknown as RequestScope;
    rememberScope(req, scope);
    vi.resetModules();
    const copy = await import('../src/http/http-audit.js');
    expect(copy.rememberedScope(req)).toBe(scope);

    const registry = global[key];
    global[key] = 'not a WeakMap';
    try {
      vi.resetModules();
      const isolated = await import('../src/http/http-audit.js');
      const other = {};
      isolated.rememberScope(other, scope);
      expect(isolated.rememberedScope(other)).toBe(scope);
      expect(rememberedScope(other)).toBeUndefined();
      expect(global[key]).toBe('not a WeakMap');
    } finally {
      global[key] = registry;
    }
  });
});

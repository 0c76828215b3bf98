import { Readable } from 'node:stream';
import type { AdminOptions, TablesResponse } from '@auditrum/core/admin';
import { createAdminRoutes, MAX_BODY_BYTES } from '@auditrum/core/admin';
import { useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminRequest } from '../src/admin/admin-http.js';
import { BodyParams } from '../src/admin/body-params.js';
import { AdminError } from '../src/admin/errors.js';
import { readJsonBody } from '../src/admin/request-body.js';
import { assertSameOrigin } from '../src/admin/same-origin.js';

/** What guards a write before any data: the options, the cross-site rule, the JSON body. */

const db = useTestDatabase();
let pool: pg.Pool;

beforeAll(() => {
  pool = db.openPool({ max: 2 });
});

afterAll(async () => {
  await pool?.end();
});

function refusal(run: () => unknown): { code: string; status: number; message: string; parameter?: string } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    return {
      code: error.code,
      status: error.status,
      message: error.message,
      ...(error.parameter ? { parameter: error.parameter } : {}),
    };
  }
  throw new Error('not refused');
}

async function asyncRefusal(run: () => Promise<unknown>) {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    return { code: error.code, status: error.status, parameter: error.parameter, message: error.message };
  }
  throw new Error('not refused');
}

describe('authorizeWrite and actor options', () => {
  const authorize = () => true;

  it('are both absent by default, and then the admin says it cannot write', async () => {
    const admin = createAdminRoutes({ pool, authorize });
    const response = await admin({
      method: 'GET',
      path: '/api/tables',
      query: new URLSearchParams(),
      headers: {},
      basePath: '/audit-admin',
      raw: {},
    });
    expect((JSON.parse(response.body as string) as TablesResponse).canWrite).toBe(false);
  });

  it('go together, and each mistake names the option', () => {
    const actor = () => ({ id: 'u-1' });
    expect(() => createAdminRoutes({ pool, authorize, authorizeWrite: () => true } as AdminOptions)).toThrow(
      /`actor` is missing \(required with authorizeWrite\); pass actor: \(request\) =>/,
    );
    expect(() => createAdminRoutes({ pool, authorize, actor })).toThrow(/`actor` is given without `authorizeWrite`/);
    expect(() =>
      createAdminRoutes({ pool, authorize, authorizeWrite: true, actor } as unknown as AdminOptions),
    ).toThrow(/`authorizeWrite` is not a function/);
    expect(() =>
      createAdminRoutes({ pool, authorize, authorizeWrite: () => true, actor: { id: 'u' } } as unknown as AdminOptions),
    ).toThrow(/`actor` is not a function/);
    expect(typeof createAdminRoutes({ pool, authorize, authorizeWrite: () => true, actor })).toBe('function');
  });
});

describe('the cross-site rule', () => {
  const host = { host: 'admin.example.com:8443' };

  it('takes Sec-Fetch-Site: same-origin, and nothing else when the browser sends it', () => {
    expect(() => assertSameOrigin({ 'sec-fetch-site': 'same-origin' })).not.toThrow();
    for (const site of ['cross-site', 'same-site', 'none', 'SAME-ORIGINX']) {
      // A matching Origin does not make up for a browser that says the request came from elsewhere.
      const headers = { ...host, 'sec-fetch-site': site, origin: 'https://admin.example.com:8443' };
      expect(refusal(() => assertSameOrigin(headers))).toMatchObject({ code: 'cross_site', status: 403 });
    }
  });

  it('without Sec-Fetch-Site, takes an Origin of the request host only', () => {
    expect(() => assertSameOrigin({ ...host, origin: 'https://admin.example.com:8443' })).not.toThrow();
    expect(() => assertSameOrigin({ host: 'admin.example.com', origin: 'https://admin.example.com' })).not.toThrow();
    expect(() =>
      assertSameOrigin({ host: 'Admin.Example.com:443', origin: 'https://admin.example.com' }),
    ).not.toThrow();
    for (const origin of [
      'https://evil.example',
      'https://admin.example.com', // another port
      'https://admin.example.com:8443.evil.example',
      'https://evil.example/admin.example.com:8443',
      'null',
      'file://',
      'admin.example.com:8443',
      '',
    ]) {
      expect([origin, refusal(() => assertSameOrigin({ ...host, origin })).code]).toEqual([origin, 'cross_site']);
    }
    expect(refusal(() => assertSameOrigin({ origin: 'https://admin.example.com:8443' })).message).toMatch(
      /no Host header/,
    );
  });

  it('refuses a request with neither header, saying what to send', () => {
    expect(refusal(() => assertSameOrigin(host)).message).toBe(
      'cross-site write refused: the request has neither Sec-Fetch-Site nor Origin; send Origin: the URL of the admin',
    );
  });
});

describe('the JSON body of a write', () => {
  const request = (headers: AdminRequest['headers'], body?: AdminRequest['body']): AdminRequest => ({
    method: 'POST',
    path: '/api/revert',
    query: new URLSearchParams(),
    headers,
    basePath: '',
    raw: undefined,
    ...(body === undefined ? {} : { body }),
  });
  const json = { 'content-type': 'application/json' };
  const stream = (...chunks: (string | Buffer)[]) => Readable.from(chunks);

  it('is read from the stream, or taken from the host body parser', async () => {
    expect(await readJsonBody(request(json, stream('{"change":', '"42"}')))).toEqual({ change: '42' });
    const charset = { 'content-type': 'Application/JSON; charset=UTF-8' };
    expect(await readJsonBody(request(charset, stream('{"a":"é"}')))).toEqual({ a: 'é' });
    expect(await readJsonBody(request(json, { parsed: { change: '7' } }))).toEqual({ change: '7' });
  });

  it('must be JSON: a form cannot post it (415)', async () => {
    for (const type of [
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/plain',
      'text/plain; charset=utf-8',
      'application/json; charset=latin1',
      'application/jsonp',
      undefined,
    ]) {
      const headers = type === undefined ? {} : { 'content-type': type };
      const refused = await asyncRefusal(() => readJsonBody(request(headers, stream('{"change":"1"}'))));
      expect([type, refused.status, refused.code]).toEqual([type, 415, 'unsupported_media_type']);
    }
    // A body a host parser read from a form is refused by its type too.
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await asyncRefusal(() => readJsonBody(request(form, { parsed: { change: '1' } })))).status).toBe(415);
  });

  it('is bounded: 413 by Content-Length before reading, or as soon as the stream goes over', async () => {
    let read = 0;
    async function* endless() {
      for (;;) {
        read += 1;
        yield Buffer.alloc(4096, 0x20);
      }
    }
    const refused = await asyncRefusal(() => readJsonBody(request(json, endless())));
    expect([refused.status, refused.code]).toEqual([413, 'payload_too_large']);
    expect(read).toBe(Math.ceil((MAX_BODY_BYTES + 1) / 4096));
    let touched = false;
    const untouched = (async function* () {
      touched = true;
      yield '{}';
    })();
    const declared = { ...json, 'content-length': String(MAX_BODY_BYTES + 1) };
    expect((await asyncRefusal(() => readJsonBody(request(declared, untouched)))).status).toBe(413);
    expect(touched).toBe(false);
    const atLimit = `{"reason":"${'x'.repeat(MAX_BODY_BYTES - 13)}"}`;
    expect(Buffer.byteLength(atLimit)).toBe(MAX_BODY_BYTES);
    expect(await readJsonBody(request(json, stream(atLimit)))).toHaveProperty('reason');
  });

  it('that breaks off (the client went away) is a 400 body, not an internal error', async () => {
    const broken = (async function* () {
      yield '{"change":';
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    })();
    const refused = await asyncRefusal(() => readJsonBody(request(json, broken)));
    expect([refused.status, refused.parameter, refused.message]).toEqual([
      400,
      'body',
      'body: could not be read (aborted)',
    ]);
  });

  it('must be a UTF-8 JSON object: 400 body otherwise', async () => {
    for (const [body, message] of [
      ['', 'body: is required: a JSON object'],
      ['{"a":', /^body: is not valid JSON \(/],
      ['[1,2]', 'body: must be a JSON object'],
      ['"text"', 'body: must be a JSON object'],
      ['null', 'body: must be a JSON object'],
      [Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), 'body: is not UTF-8'],
    ] as const) {
      const refused = await asyncRefusal(() => readJsonBody(request(json, stream(body))));
      expect([refused.status, refused.parameter]).toEqual([400, 'body']);
      expect(refused.message).toMatch(message);
    }
    expect((await asyncRefusal(() => readJsonBody(request(json)))).message).toBe('body: is required: a JSON object');
  });
});

describe('the fields of a write body', () => {
  it('are typed, and a field the route does not read is refused by name', () => {
    const body = new BodyParams({ change: '12', dryRun: true, dryrun: true });
    expect(body.required('change')).toBe('12');
    expect(body.flag('dryRun')).toBe(true);
    expect(body.flag('force')).toBe(false);
    expect(refusal(() => body.finish())).toMatchObject({ status: 400, parameter: 'dryrun' });
    expect(refusal(() => new BodyParams({ force: 'true' }).flag('force'))).toMatchObject({ parameter: 'force' });
    expect(refusal(() => new BodyParams({ reason: 42 }).text('reason'))).toMatchObject({ parameter: 'reason' });
    expect(refusal(() => new BodyParams({ reason: '' }).required('reason')).message).toBe(
      'reason: must be 1 to 1000 characters',
    );
    expect(refusal(() => new BodyParams({}).required('reason')).message).toBe('reason: is required');
    expect(refusal(() => new BodyParams({ reason: 'a\u0000b' }).text('reason')).parameter).toBe('reason');
    // Inherited names are not fields.
    expect(new BodyParams(JSON.parse('{"__proto__":{"x":1}}')).text('x')).toBeUndefined();
  });
});

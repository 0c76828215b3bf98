import { describe, expect, it } from 'vitest';
import { RequestIds } from '../src/http/request-id.js';

// The request came through a proxy the app trusts (the adapter's reading of the framework's setting).
const FROM_PROXY = true;
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('accept a short inbound id of safe characters, and generate time-ordered UUIDv7 otherwise', () => {
    const ids = new RequestIds();
    expect(ids.resolve('abc-123_x.y:z', undefined, FROM_PROXY)).toBe('abc-123_x.y:z');
    for (const bad of ['', 'a b', 'x\r\nSet-Cookie: a=1', 'x'.repeat(129), 'ünï', '<script>', undefined, ['a', 'b']]) {
      expect(ids.resolve(bad as string | undefined, undefined, FROM_PROXY)).toMatch(UUID_V7);
    }
    // Strictly increasing, also within one millisecond.
    const many = Array.from({ length: 2000 }, () => ids.resolve(undefined, undefined, FROM_PROXY));
    expect([...many].sort()).toEqual(many);
    expect(new Set(many).size).toBe(2000);
    const stamp = Number.parseInt((many[0] as string).replaceAll('-', '').slice(0, 12), 16);
    expect(Math.abs(stamp - Date.now())).toBeLessThan(60_000);
  });

  it("keep an id already on the request (pino-http's genReqId) when valid, but not a counter's", () => {
    const ids = new RequestIds();
    expect(ids.resolve('inbound', 'pino-7f3a9c1e', FROM_PROXY)).toBe('pino-7f3a9c1e');
    expect(ids.resolve('inbound', { not: 'an id' }, FROM_PROXY)).toBe('inbound');
    // pino-http's default counter and Fastify's own ids start again in every process: not adopted, inbound or not.
    expect(ids.resolve('inbound', 42, FROM_PROXY)).toBe('inbound');
    expect(ids.resolve('inbound', 'req-1b', FROM_PROXY)).toBe('inbound');
    expect(ids.resolve('42', undefined, FROM_PROXY)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(ids.resolve('999999999999', undefined, FROM_PROXY)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(ids.resolve('1866213517930840064', undefined, FROM_PROXY)).toBe('1866213517930840064');
  });

  it('are configurable: header, length, pattern, trust and generator; a failing generator falls back', () => {
    const ids = new RequestIds({
      header: 'X-Correlation-Id',
      maxLength: 8,
      pattern: /^[0-9]+$/g,
      generate: () => 'gen-1',
    });
    expect(ids.header).toBe('x-correlation-id');
    // A pattern of one's own says what the ids look like: numbers it allows are not taken for a counter's.
    expect(ids.resolve('1234', undefined, FROM_PROXY)).toBe('1234');
    expect(ids.resolve('1234', undefined, FROM_PROXY)).toBe('1234'); // a /g pattern keeps no state between requests
    expect(ids.resolve('123456789', undefined, FROM_PROXY)).toBe('gen-1');
    expect(ids.resolve('abc', undefined, FROM_PROXY)).toBe('gen-1');
    expect(new RequestIds({ trustInbound: false, generate: () => 'g' }).resolve('good-id', undefined, FROM_PROXY)).toBe(
      'g',
    );
    const failing = new RequestIds({
      generate: () => {
        throw new Error('boom');
      },
    });
    expect(failing.resolve(undefined, undefined, FROM_PROXY)).toMatch(UUID_V7);
    expect(new RequestIds({ generate: () => 'bad id\n' }).resolve(undefined, undefined, FROM_PROXY)).toMatch(UUID_V7);
  });

  it("use an inbound id by default only from a proxy the app trusts; 'proxy', true and false", () => {
    const byProxy = new RequestIds({ generate: () => 'fresh' });
    expect(byProxy.resolve('sent-id', undefined, true)).toBe('sent-id');
    // A client the app does not trust could send another request's id, joining the two on the request page and in
    // undo of a request: a fresh one is given.
    expect(byProxy.resolve('sent-id', undefined, false)).toBe('fresh');
    expect(
      new RequestIds({ trustInbound: 'proxy', generate: () => 'fresh' }).resolve('sent-id', undefined, false),
    ).toBe('fresh');
    const always = new RequestIds({ trustInbound: true, generate: () => 'fresh' });
    expect([always.resolve('sent-id', undefined, false), always.resolve('sent-id', undefined, true)]).toEqual([
      'sent-id',
      'sent-id',
    ]);
    const never = new RequestIds({ trustInbound: false, generate: () => 'fresh' });
    expect([never.resolve('sent-id', undefined, false), never.resolve('sent-id', undefined, true)]).toEqual([
      'fresh',
      'fresh',
    ]);
    // An id set on the request before the middleware (pino-http's genReqId) is the application's own: kept either way.
    expect(byProxy.resolve('sent-id', 'pino-7f3a9c1e', false)).toBe('pino-7f3a9c1e');
  });

  it('refuse bad options at construction, naming them', () => {
    for (const bad of ['yes', 'true', 1, null, {}]) {
      expect(() => new RequestIds({ trustInbound: bad as unknown as boolean })).toThrow(
        `requestId.trustInbound must be true, false or 'proxy', not ${JSON.stringify(bad)}`,
      );
    }
    expect(() => new RequestIds({ header: 'bad header' })).toThrow('requestId.header must be a valid HTTP header name');
    expect(() => new RequestIds({ maxLength: 500 })).toThrow(
      'requestId.maxLength must be a whole number from 1 to 128',
    );
    expect(() => new RequestIds({ pattern: '.*' as unknown as RegExp })).toThrow('requestId.pattern must be a RegExp');
    expect(() => new RequestIds({ generate: 'x' as unknown as () => string })).toThrow(
      'requestId.generate must be a function',
    );
  });
});

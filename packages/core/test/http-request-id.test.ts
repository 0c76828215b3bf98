import { describe, expect, it } from 'vitest';
import { RequestIds } from '../src/http/request-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('accept a short inbound id of safe characters, and generate time-ordered UUIDv7 otherwise', () => {
    const ids = new RequestIds();
    expect(ids.resolve('abc-123_x.y:z')).toBe('abc-123_x.y:z');
    for (const bad of ['', 'a b', 'x\r\nSet-Cookie: a=1', 'x'.repeat(129), 'ünï', '<script>', undefined, ['a', 'b']]) {
      expect(ids.resolve(bad as string | undefined)).toMatch(UUID_V7);
    }
    // Strictly increasing, also within one millisecond.
    const many = Array.from({ length: 2000 }, () => ids.resolve(undefined));
    expect([...many].sort()).toEqual(many);
    expect(new Set(many).size).toBe(2000);
    const stamp = Number.parseInt((many[0] as string).replaceAll('-', '').slice(0, 12), 16);
    expect(Math.abs(stamp - Date.now())).toBeLessThan(60_000);
  });

  it("keep an id already on the request (pino-http's genReqId) when valid, but not a counter's", () => {
    const ids = new RequestIds();
    expect(ids.resolve('inbound', 'pino-7f3a9c1e')).toBe('pino-7f3a9c1e');
    expect(ids.resolve('inbound', { not: 'an id' })).toBe('inbound');
    // pino-http's default counter and Fastify's own ids start again in every process: not adopted, inbound or not.
    expect(ids.resolve('inbound', 42)).toBe('inbound');
    expect(ids.resolve('inbound', 'req-1b')).toBe('inbound');
    expect(ids.resolve('42', undefined)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(ids.resolve('999999999999')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(ids.resolve('1866213517930840064')).toBe('1866213517930840064');
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
    expect(ids.resolve('1234')).toBe('1234');
    expect(ids.resolve('1234')).toBe('1234'); // a /g pattern keeps no state between requests
    expect(ids.resolve('123456789')).toBe('gen-1');
    expect(ids.resolve('abc')).toBe('gen-1');
    expect(new RequestIds({ trustInbound: false, generate: () => 'g' }).resolve('good-id')).toBe('g');
    const failing = new RequestIds({
      generate: () => {
        throw new Error('boom');
      },
    });
    expect(failing.resolve(undefined)).toMatch(UUID_V7);
    expect(new RequestIds({ generate: () => 'bad id\n' }).resolve(undefined)).toMatch(UUID_V7);
  });

  it('refuse bad options at construction, naming them', () => {
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

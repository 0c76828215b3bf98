import { bodyValue, Masker, maskJsonPreview } from '@auditrum/core/http';
import { describe, expect, it } from 'vitest';
import { JsonText } from '../src/http/api-request-record.js';
import { BodyCapture } from '../src/http/body-tap.js';
import { storedBody } from '../src/http/body-value.js';

const masker = new Masker();

function captured(body: string | Buffer, limit = 65536): BodyCapture {
  const capture = new BodyCapture(limit);
  capture.add(typeof body === 'string' ? Buffer.from(body) : body);
  return capture;
}

describe('masking', () => {
  it('masks the default keys in any case and style, at any depth, and keeps the rest', () => {
    const body = {
      user: 'alice',
      Password: 'p1',
      profile: { access_token: 't', refreshToken: 'r', nested: [{ API_KEY: 'k', apiKey: 'k2', note: 'ok' }] },
      creditCardNumber: '4111',
      CVV: 123,
      ssn: null,
      client_secret: { deep: 'x' },
      authorization: 'Bearer x',
      tokens_count: 3,
    };
    expect(masker.maskJson(body)).toEqual({
      user: 'alice',
      Password: '[masked]',
      profile: {
        access_token: '[masked]',
        refreshToken: '[masked]',
        nested: [{ API_KEY: '[masked]', apiKey: '[masked]', note: 'ok' }],
      },
      creditCardNumber: '[masked]',
      CVV: '[masked]',
      ssn: '[masked]',
      client_secret: '[masked]',
      authorization: '[masked]',
      tokens_count: 3,
    });
  });

  it('masks configured keys and paths, with a configured censor, and can drop the default keys', () => {
    const custom = new Masker({ keys: ['iban'], paths: ['user.phone', 'items.*.note'], censor: '***' });
    expect(
      custom.maskJson({ user: { phone: '+1', name: 'a' }, items: [{ note: 'n', id: 1 }], IBAN: 'DE00', password: 'p' }),
    ).toEqual({ user: { phone: '***', name: 'a' }, items: [{ note: '***', id: 1 }], IBAN: '***', password: '***' });
    const onlyMine = new Masker({ defaultKeys: false, keys: ['pin'] });
    expect(onlyMine.maskJson({ password: 'p', pin: '1' })).toEqual({ password: 'p', pin: '[masked]' });
  });

  it('masks headers (Authorization, Cookie, Set-Cookie and key words) and caps their values', () => {
    expect(
      JSON.parse(
        masker.headersJson({
          Authorization: 'Bearer abc',
          cookie: 'sid=1',
          'set-cookie': ['a=1', 'b=2'],
          'x-api-key': 'k',
          'x-auth-token': 't',
          'content-type': 'application/json',
          'x-long': 'y'.repeat(5000),
        }),
      ),
    ).toEqual({
      authorization: '[masked]',
      cookie: '[masked]',
      'set-cookie': '[masked]',
      'x-api-key': '[masked]',
      'x-auth-token': '[masked]',
      'content-type': 'application/json',
      'x-long': `${'y'.repeat(4095)}…`,
    });
  });

  it('keeps the first 200 headers and marks that more were sent', () => {
    const many = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`x-h${i}`, String(i)]));
    const stored = JSON.parse(masker.headersJson(many));
    expect(Object.keys(stored)).toHaveLength(201);
    expect(stored['x-h199']).toBe('199');
    expect(stored['x-h200']).toBeUndefined();
    expect(stored.$auditrum).toBe('more headers not stored');
  });

  it('masks query strings and form bodies, including bracketed keys and repeated fields', () => {
    expect(masker.maskQuery('q=shoes&token=abc&user[password]=p&tag=a&tag=b&Secret=s')).toEqual({
      q: 'shoes',
      token: '[masked]',
      'user[password]': '[masked]',
      tag: ['a', 'b'],
      Secret: '[masked]',
    });
    expect(masker.maskQuery('')).toBeNull();
    expect(
      bodyValue(captured('name=bob&password=hunter2'), 'application/x-www-form-urlencoded', masker, {
        declaredBody: true,
      }),
    ).toEqual({
      name: 'bob',
      password: '[masked]',
    });
  });

  it('makes values storable: no NUL, no lone surrogate, "__proto__" kept as data, nesting bounded', () => {
    const parsed = JSON.parse('{"a\\u0000b":"x\\u0000\\ud800","__proto__":{"password":"p"}}');
    expect(JSON.stringify(masker.maskJson(parsed))).toBe(
      '{"a\ufffdb":"x\ufffd\ufffd","__proto__":{"password":"[masked]"}}',
    );
    const deep = JSON.parse(`${'['.repeat(5000)}{"password":"p"}${']'.repeat(5000)}`);
    const stored = JSON.stringify(masker.maskJson(deep));
    expect(stored).toContain('{"$auditrum":"too-deep"}');
    expect(stored).not.toContain('"p"');
  });

  it('masks the preview of a JSON text too long to parse, even when the cut falls inside a value', () => {
    const text =
      '{"user":"a","password":"hunter2","profile":{"token":{"a":[1,2]},"n":1},"items":[{"cvv":123,"x":"y"}],"secret":"abc';
    expect(maskJsonPreview(text, masker)).toBe(
      '{"user":"a","password":"[masked]","profile":{"token":"[masked]","n":1},"items":[{"cvv":"[masked]","x":"y"}],"secret":"[masked]"',
    );
    const paths = new Masker({ paths: ['list.*'] });
    expect(maskJsonPreview('{"list":[1, "two", {"a":1}],"k":2}', paths)).toBe(
      '{"list":["[masked]", "[masked]", "[masked]"],"k":2}',
    );
  });
});

describe('body values', () => {
  it('stores JSON masked, text as a string, and JSON-looking text masked as JSON', () => {
    expect(
      bodyValue(captured('{"password":"p","n":1}'), 'application/json; charset=utf-8', masker, { declaredBody: true }),
    ).toEqual({
      password: '[masked]',
      n: 1,
    });
    expect(bodyValue(captured('hello'), 'text/plain', masker, { declaredBody: true })).toBe('hello');
    expect(bodyValue(captured('{"token":"t"}'), 'text/plain', masker, { declaredBody: true })).toEqual({
      token: '[masked]',
    });
  });

  it('keeps a JSON body that masking would not change as it came, and masks every other one', () => {
    const json = { declaredBody: true };
    const stored = (text: string, with_ = masker) => storedBody(captured(text), 'application/json', with_, json);
    // Kept as sent: a list, big numbers exactly, a "__proto__" key, unicode.
    for (const text of [
      '[{"id":1,"name":"a"},{"id":2}]',
      '{"n":12345678901234567890123,"x":-0.5}',
      '{"__proto__":{"é":"✓"}}',
    ]) {
      expect(stored(text)).toEqual(new JsonText(text));
    }
    // Masked as before: a sensitive key (also one only a case-insensitive look finds), a key hidden behind an
    // escape, a NUL escape, a number jsonb would refuse, nesting beyond the limit, invalid JSON, configured paths.
    const cases = [
      '{"user":{"PassWord":"p"}}',
      '{"pass\\u0077ord":"p"}',
      '{"a":"\\u0000"}',
      '{"n":1e999999}',
      `{"n":0.${'1'.repeat(20_000)}}`,
      `${'['.repeat(40)}${']'.repeat(40)}`,
      '{"a":',
    ];
    for (const text of cases) {
      expect(stored(text)).toEqual(bodyValue(captured(text), 'application/json', masker, json));
      expect(stored(text)).not.toBeInstanceOf(JsonText);
    }
    expect(stored('{"pass\\u0077ord":"p"}')).toEqual({ password: '[masked]' });
    expect(stored('{"n":1e999999}')).toEqual({ n: null });
    const paths = new Masker({ paths: ['user.phone'] });
    expect(stored('{"user":{"phone":"+1"}}', paths)).toEqual({ user: { phone: '[masked]' } });
    // Only JSON bodies: text stays text.
    expect(storedBody(captured('{"a":1}'), 'text/plain', masker, json)).toEqual({ a: 1 });
  });

  it('captures bodies written as strings, bytes or both, counting bytes and keeping the limit in bytes', () => {
    const mixed = new BodyCapture(100);
    mixed.add('{"a":"é');
    mixed.add(Buffer.from('ü",'));
    mixed.add('"b":1}', 'utf8');
    expect([mixed.text(), mixed.bytes, mixed.truncated]).toEqual(['{"a":"éü","b":1}', 18, false]);
    const strings = new BodyCapture(5);
    strings.add('ééé');
    strings.add('abc');
    // Limit plus one byte kept: "éé" and half of the third "é" (replaced when decoded), the rest only counted.
    expect([strings.content().length, strings.bytes, strings.truncated]).toEqual([6, 9, true]);
    const latin1 = new BodyCapture(10);
    latin1.add('caf\u00e9', 'latin1');
    // Other encodings are kept as the bytes sent.
    expect([latin1.content(), latin1.bytes]).toEqual([Buffer.from([0x63, 0x61, 0x66, 0xe9]), 4]);
  });

  it('marks truncated, binary, streamed and invalid JSON bodies, masking their previews', () => {
    const big = JSON.stringify({ password: 'hunter2', pad: 'x'.repeat(100) });
    expect(bodyValue(captured(big, 40), 'application/json', masker, { declaredBody: true })).toEqual({
      $auditrum: 'truncated',
      bytes: big.length,
      preview: big.slice(0, 40).replace('"hunter2"', '"[masked]"'),
    });
    expect(
      bodyValue(captured(Buffer.from([0, 1, 2, 255])), 'application/octet-stream', masker, { declaredBody: true }),
    ).toEqual({
      $auditrum: 'binary',
      contentType: 'application/octet-stream',
      bytes: 4,
    });
    expect(bodyValue(captured(Buffer.from([0xff, 0xfe, 0])), undefined, masker, { declaredBody: true })).toEqual({
      $auditrum: 'binary',
      contentType: '',
      bytes: 3,
    });
    expect(bodyValue(new BodyCapture(10), 'application/json', masker, { declaredBody: true })).toEqual({
      $auditrum: 'stream',
    });
    expect(bodyValue(new BodyCapture(10), undefined, masker, { declaredBody: false })).toBeNull();
    expect(bodyValue(captured('data: 1\n\n'), 'text/event-stream', masker, { declaredBody: false })).toEqual({
      $auditrum: 'stream',
    });
    expect(bodyValue(captured('{"password":"p",'), 'application/json', masker, { declaredBody: true })).toEqual({
      $auditrum: 'invalid-json',
      preview: '{"password":"[masked]",',
    });
  });

  it('decodes non-UTF-8 text with replacement characters', () => {
    expect(bodyValue(captured(Buffer.from([0x61, 0xff, 0x62])), 'text/plain', masker, { declaredBody: true })).toBe(
      'a\ufffdb',
    );
  });
});

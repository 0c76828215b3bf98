import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyCapture } from '../src/bodies/body-tap.js';
import { bodyValue, storedBody } from '../src/bodies/body-value.js';
import { maskJsonPreview } from '../src/bodies/mask-json-preview.js';
import { Masker } from '../src/bodies/masker.js';
import { DEFAULT_SENSITIVE_KEYS, keyWords, SensitiveKeyMatcher } from '../src/bodies/sensitive-keys.js';
import { JsonText } from '../src/bodies/stored-json.js';
import { isVerbatimJson } from '../src/bodies/verbatim-json.js';

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

  it('masks what a reader that also splits fields at ; takes for sensitive, whole up to the next ;', () => {
    // Split at & only (URLSearchParams, qs, querystring, fast-querystring): `a` holds `1;password=…`.
    expect(masker.maskQuery('a=1;password=p/1#2;b=2&c;Secret=s&tag=x;size=1&tag=y;token=t')).toEqual({
      a: '1;password=[masked];b=2',
      'c;Secret': '[masked]',
      tag: ['x;size=1', 'y;token=[masked]'],
    });
    expect(new Masker({ paths: ['phone'], censor: '***' }).maskQuery('q=a;phone=123;x;=1&b;phone=2')).toEqual({
      q: 'a;phone=***;x;=1',
      'b;phone': '***',
    });
    // Nothing else changes: a value without `;`, a `;` that holds no pair.
    expect(masker.maskQuery('next=/cb;x&mode=a;b&q=password=')).toEqual({ next: '/cb;x', mode: 'a;b', q: 'password=' });
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
    // URLs in string values, escaped slashes included, even when the cut falls inside one.
    expect(
      maskJsonPreview('{"next":"https:\\/\\/x\\/cb?token=t1&a=1","kept":"a=b","cut":"/cb?sid=s1&more', masker),
    ).toBe('{"next":"https://x/cb?token=[masked]&a=1","kept":"a=b","cut":"/cb?sid=[masked]&more"');
    const paths = new Masker({ paths: ['list.*'] });
    expect(maskJsonPreview('{"list":[1, "two", {"a":1}],"k":2}', paths)).toBe(
      '{"list":["[masked]", "[masked]", "[masked]"],"k":2}',
    );
  });
});

describe('the sensitive-key matcher', () => {
  it('splits keys into words at separators, camelCase humps and digits', () => {
    expect(keyWords('X-API-Key')).toEqual(['x', 'api', 'key']);
    expect(keyWords('APIKey')).toEqual(['api', 'key']);
    expect(keyWords('pass_word')).toEqual(['pass', 'word']);
    expect(keyWords('Pass Word.v2')).toEqual(['pass', 'word', 'v', '2']);
    expect(keyWords('user[password]')).toEqual(['user', 'password']);
    expect(keyWords('oauth2Token')).toEqual(['oauth', '2', 'token']);
    expect(keyWords('__--__')).toEqual([]);
  });

  it('matches a key whose adjacent words join into a sensitive key, whatever the case and separators', () => {
    const masked = [
      'password',
      'passWord',
      'pass_word',
      'Pass_Word',
      'PASS-WORD',
      'pass.word',
      'pass word',
      'newPassword',
      'newpassword',
      'password2',
      'user[password]',
      'passwd',
      'pwd',
      'private_key',
      'privateKey',
      'PRIVATE-KEY',
      'session_id',
      'sessionId',
      'x-session-id',
      'JSESSIONID',
      'otp',
      'pin',
      'userPin',
      'jwt',
      'bearer',
      'credentials',
      'cookie',
      'apiKey',
      'X-API-Key',
      'creditCardNumber',
      'access_token',
      'id_token',
    ];
    const kept = [
      'tokens_count',
      'shipping',
      'spinner',
      'opinion',
      'pinned',
      'description',
      'author',
      'compass',
      'username',
      'email',
      'inside',
      'session',
      'cookies_accepted',
      'passenger',
      '',
    ];
    const matcher = new SensitiveKeyMatcher(DEFAULT_SENSITIVE_KEYS, ['password', 'passwd', 'passphrase']);
    expect(masked.filter((key) => !matcher.matches(key))).toEqual([]);
    expect(kept.filter((key) => matcher.matches(key))).toEqual([]);
    // Configured keys are normalised the same way, and a cached verdict is the same verdict.
    const custom = new SensitiveKeyMatcher(['Tax-ID']);
    expect(['taxId', 'tax_id', 'TAXID', 'user.tax.id', 'taxId'].map((key) => custom.matches(key))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(custom.matches('syntax_identifier')).toBe(false);
  });
});

describe('secrets in URLs and text', () => {
  it('masks parameters of any URL-valued header, the user-info password, and leaves other headers alone', () => {
    expect(
      JSON.parse(
        masker.headersJson({
          referer: 'https://app.example/reset?token=r1&step=2',
          location: '/next;jsessionid=S1?code=c1&page=2#access_token=t1&expires_in=60',
          origin: 'https://user:o1@app.example',
          link: '<https://api.example/items?page=2&api_key=k1>; rel="next"',
          'content-location': '/items?Pass_Word=p1',
          accept: 'text/html;q=0.9,*/*;q=0.8',
          'cache-control': 'max-age=0',
        }),
      ),
    ).toEqual({
      referer: 'https://app.example/reset?token=[masked]&step=2',
      location: '/next;jsessionid=[masked]?code=c1&page=2#access_token=[masked]&expires_in=60',
      origin: 'https://user:[masked]@app.example',
      link: '<https://api.example/items?page=2&api_key=[masked]>; rel="next"',
      'content-location': '/items?Pass_Word=[masked]',
      accept: 'text/html;q=0.9,*/*;q=0.8',
      'cache-control': 'max-age=0',
    });
  });

  it('masks URLs and JSON inside string values, keeping them strings, and unchanged JSON strings exactly', () => {
    expect(
      masker.maskJson({
        next: 'https://x.example/cb?state=s&token=t1',
        path: '/a;sid=s1/b?secret=s2&secretary=kept',
        nested: '/cb?next=/inner?token=t2',
        payload: '{"password":"p1","list":[{"otp":"1"}]}',
        plain: '{ "a": 1,  "b": [1, 2] }',
        email: 'kim@example.com',
        prose: 'a = b',
      }),
    ).toEqual({
      next: 'https://x.example/cb?state=s&token=[masked]',
      path: '/a;sid=[masked]/b?secret=[masked]&secretary=kept',
      nested: '/cb?next=/inner?token=[masked]',
      payload: '{"password":"[masked]","list":[{"otp":"[masked]"}]}',
      plain: '{ "a": 1,  "b": [1, 2] }',
      email: 'kim@example.com',
      prose: 'a = b',
    });
    expect(masker.maskQuery('next=https%3A%2F%2Fx%2Fcb%3Faccess_token%3Dq1&page=2')).toEqual({
      next: 'https://x/cb?access_token=[masked]',
      page: '2',
    });
  });

  it('masks name=value secrets in text bodies and their previews: form text sent as text/plain', () => {
    const text = (body: string, limit?: number) =>
      bodyValue(captured(body, limit), 'text/plain', masker, { declaredBody: true });
    expect(text('user=kim&Pass_Word=p1&pin=1234')).toBe('user=kim&Pass_Word=[masked]&pin=[masked]');
    expect(text('open https://x.example/?token=t1 now')).toBe('open https://x.example/?token=[masked] now');
    expect(text('a plain sentence = fine')).toBe('a plain sentence = fine');
    expect(text(`password=p1&pad=${'x'.repeat(100)}`, 40)).toMatchObject({
      $auditrum: 'truncated',
      preview: `password=[masked]&pad=${'x'.repeat(24)}`,
    });
  });

  it('masks the credentials of OAuth token requests and the Authentication header', () => {
    // Each stored as sent before: a JWT bearer grant, a client assertion, PKCE, a device code, a passcode.
    const form =
      'grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=eyJhbGciOi.eyJzdWIi.c2ln' +
      '&client_assertion=eyJ.eyJ.sig&code_verifier=dBjftJeZ4CVP&device_code=GmRhmhcx&passcode=4321&scope=read';
    expect(bodyValue(captured(form), 'application/x-www-form-urlencoded', masker, { declaredBody: true })).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: '[masked]',
      client_assertion: '[masked]',
      code_verifier: '[masked]',
      device_code: '[masked]',
      passcode: '[masked]',
      scope: 'read',
    });
    expect(JSON.parse(masker.headersJson({ authentication: 'Bearer t0k3n', 'x-authentication-key': 'k' }))).toEqual({
      authentication: '[masked]',
      'x-authentication-key': '[masked]',
    });
    // Words, not fragments: a zip or country code and a verified flag are kept.
    expect(masker.maskJson({ zip_code: '0150', country_code: 'NO', verified: true })).toEqual({
      zip_code: '0150',
      country_code: 'NO',
      verified: true,
    });
  });

  it('masks JWTs by their shape wherever they are: values under any key, headers, paths, text', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const jwe =
      'eyJhbGciOiJSU0EtT0FFUCJ9.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ';
    // Each stored as sent before: under keys no list names.
    const body = JSON.stringify({ data: jwt, note: `see ${jwt} here`, nested: [{ v: jwe }], kept: 'eyJ is fine' });
    expect(storedBody(captured(body), 'application/json', masker, { declaredBody: true })).toEqual({
      data: '[masked]',
      note: 'see [masked] here',
      nested: [{ v: '[masked]' }],
      kept: 'eyJ is fine',
    });
    expect(JSON.parse(masker.headersJson({ 'x-upstream': `Bearer ${jwt}` }))).toEqual({
      'x-upstream': 'Bearer [masked]',
    });
    expect(masker.maskUrl(`/login/${jwt}/done`)).toBe('/login/[masked]/done');
    expect(masker.maskQuery(`state=${jwt}&page=2`)).toEqual({ state: '[masked]', page: '2' });
    expect(bodyValue(captured(`the token: ${jwt}`), 'text/plain', masker, { declaredBody: true })).toBe(
      'the token: [masked]',
    );
    expect(
      bodyValue(captured(`{"data":"${jwt}","pad":"${'x'.repeat(200)}"}`, 120), 'application/json', masker, {
        declaredBody: true,
      }),
    ).toMatchObject({ $auditrum: 'truncated', preview: expect.stringMatching(/^\{"data":"\[masked\]","pad":"x+$/) });
  });

  it('masks sensitive XML elements and attributes and name: value lines in text bodies and their previews', () => {
    // Each stored as sent before: SOAP's WS-Security password, an attribute, YAML and headers pasted as text.
    const soap =
      '<soap:Envelope><soap:Header><wsse:UsernameToken><wsse:Username>kim</wsse:Username>' +
      '<wsse:Password Type="PasswordText">hunter2</wsse:Password></wsse:UsernameToken></soap:Header>' +
      '<soap:Body><login api_key="k-123" user="kim"><Secret><![CDATA[s3<cr>3t]]></Secret></login></soap:Body></soap:Envelope>';
    const maskedSoap =
      '<soap:Envelope><soap:Header><wsse:UsernameToken><wsse:Username>kim</wsse:Username>' +
      '<wsse:Password Type="PasswordText">[masked]</wsse:Password></wsse:UsernameToken></soap:Header>' +
      '<soap:Body><login api_key="[masked]" user="kim"><Secret>[masked]</Secret></login></soap:Body></soap:Envelope>';
    for (const type of ['application/soap+xml', 'text/xml', 'application/xml']) {
      expect(bodyValue(captured(soap), type, masker, { declaredBody: true })).toBe(maskedSoap);
    }
    const yaml = 'user: kim\npassword: hunter 2\nkeys:\n  - api_key: k1\n    note: fine\nAuthorization: Bearer t0k3n\n';
    expect(bodyValue(captured(yaml), 'application/yaml', masker, { declaredBody: true })).toEqual({
      $auditrum: 'binary',
      contentType: 'application/yaml',
      bytes: yaml.length,
    });
    expect(bodyValue(captured(yaml), 'text/yaml', masker, { declaredBody: true })).toBe(
      'user: kim\npassword: [masked]\nkeys:\n  - api_key: [masked]\n    note: fine\nAuthorization: [masked]\n',
    );
    // Cut inside the element by the limit: its text is masked to the end.
    expect(
      bodyValue(captured(`<a><password>hunter2${'x'.repeat(50)}</password></a>`, 20), 'text/xml', masker, {
        declaredBody: true,
      }),
    ).toMatchObject({ $auditrum: 'truncated', preview: '<a><password>[masked]' });
    // Names that are not sensitive, and prose with colons, are left as they are.
    expect(bodyValue(captured('<note>a: b</note>\nTime: 10:30'), 'text/plain', masker, { declaredBody: true })).toBe(
      '<note>a: b</note>\nTime: 10:30',
    );
  });

  it('keep a JSON body verbatim only when masking would not change it, also for the new rules', () => {
    const refused = [
      '{"pass_word":"p"}',
      '{"a":{"Pass Word":"p"}}',
      '{"sessionId":"s"}',
      '{"next":"https://x/cb?token=t"}',
      '{"next":"/cb;jsessionid=s"}',
      '{"origin":"https://u:p@x"}',
      '{"payload":"{\\"password\\":1}"}',
    ];
    for (const text of refused) {
      expect([text, isVerbatimJson(text, masker)]).toEqual([text, false]);
      expect(storedBody(captured(text), 'application/json', masker, { declaredBody: true })).not.toBeInstanceOf(
        JsonText,
      );
    }
    const kept = [
      '{"shipping":"fast","description":"spinner","email":"kim@example.com"}',
      '{"tokens_count":3,"query":"a=b","url":"https://x.example/a"}',
      '[{"hint_shown": false, "pinned": true}]',
      '{"talk" : 1, "side": "left", "inside": "a@b"}',
    ];
    for (const text of kept) expect([text, isVerbatimJson(text, masker)]).toEqual([text, true]);
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

  it('masks what clients send as JSON when it is not: single quotes, bare keys, a missing colon, form text', () => {
    // Each stored unmasked before: an invalid-json preview, a truncated preview and a text body alike.
    const cases: [string, string][] = [
      [`{'password': 'hunter 2', 'user': 'a'}`, `{'password': "[masked]", 'user': 'a'}`],
      [`{password: "hunter2", user: "a"}`, `{password: "[masked]", user: "a"}`],
      [`{user: 'a', apiKey: 'k 1'}`, `{user: 'a', apiKey: "[masked]"}`],
      [`{"password" "hunter2", "user": "a"}`, `{"password" "[masked]", "user": "a"}`],
      [`{"token": ['t1', 't2'], "n": 1,}`, `{"token": "[masked]", "n": 1,}`],
      ['password=hunter2&user=a', 'password=[masked]&user=a'],
      [`{"user":"a","password":"hunter2"`, `{"user":"a","password":"[masked]"`],
    ];
    for (const [body, masked] of cases) {
      expect(bodyValue(captured(body), 'application/json', masker, { declaredBody: true })).toEqual({
        $auditrum: 'invalid-json',
        preview: masked,
      });
      expect(
        bodyValue(captured(`${body}${' '.repeat(50)}`, body.length + 10), 'application/json', masker, {
          declaredBody: true,
        }),
      ).toEqual({ $auditrum: 'truncated', bytes: body.length + 50, preview: `${masked}${' '.repeat(10)}` });
      expect(bodyValue(captured(body), 'text/plain', masker, { declaredBody: true })).toBe(masked);
    }
  });

  it('stores compressed bodies decoded and masked, and describes those it cannot decode within the limit', () => {
    const json = JSON.stringify({ user: 'a', token: 't0k3n' });
    for (const [coding, compress] of [
      ['gzip', gzipSync],
      ['x-gzip', gzipSync],
      ['deflate', deflateSync],
      ['br', brotliCompressSync],
    ] as const) {
      expect(
        storedBody(captured(compress(json)), 'application/json', masker, {
          declaredBody: true,
          contentEncoding: coding,
        }),
      ).toEqual({ user: 'a', token: '[masked]' });
    }
    // Applied in turn (gzip, then br): undone in the reverse order.
    expect(
      storedBody(captured(brotliCompressSync(gzipSync('a=1&pin=2'))), 'text/plain', masker, {
        declaredBody: true,
        contentEncoding: 'gzip, br',
      }),
    ).toBe('a=1&pin=[masked]');
    // A bomb: 10 MB of zeros in about 10 kB, under a 64 kB limit; a body cut at the limit; an unknown coding.
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024));
    const cut = gzipSync(crypto.getRandomValues(new Uint8Array(200)));
    for (const [bytes, coding, limit] of [
      [bomb, 'gzip', 65536],
      [cut, 'gzip', 100],
      [Buffer.from(json), 'zstd', 65536],
    ] as const) {
      expect(
        storedBody(captured(bytes, limit), 'application/json', masker, { declaredBody: true, contentEncoding: coding }),
      ).toEqual({
        $auditrum: 'binary',
        contentType: 'application/json',
        contentEncoding: coding,
        bytes: bytes.length,
      });
    }
    // Not compressed after all (a compression middleware outside the tap set the header): stored as it is.
    expect(
      storedBody(captured(json), 'application/json', masker, { declaredBody: true, contentEncoding: 'gzip' }),
    ).toEqual({
      user: 'a',
      token: '[masked]',
    });
    expect(
      storedBody(captured(json), 'application/json', masker, { declaredBody: true, contentEncoding: 'identity' }),
    ).toEqual({
      user: 'a',
      token: '[masked]',
    });
  });

  it('decodes non-UTF-8 text with replacement characters', () => {
    expect(bodyValue(captured(Buffer.from([0x61, 0xff, 0x62])), 'text/plain', masker, { declaredBody: true })).toBe(
      'a\ufffdb',
    );
  });
});

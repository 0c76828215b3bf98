import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cefDelivered, cefExtensionValue, cefHeaderValue, cefLine } from '../src/export/cef.js';
import { EXPORT_FORMATS } from '../src/export/export-format.js';
import type { ChangeExportRecord, RequestExportRecord } from '../src/export/export-record.js';
import { fileSink } from '../src/export/file-sink.js';
import { ndjsonLine } from '../src/export/ndjson.js';

const HOSTILE = 'a|b\\c=d\r\ne\nf';

const change: ChangeExportRecord = {
  position: '7:3',
  log: 'changes',
  id: '42',
  time: '2026-12-07T10:00:00.123456Z',
  txid: '900',
  schema: 'public',
  table: `ord|ers\\x`,
  table_id: 1,
  operation: 'UPDATE',
  row_key: HOSTILE,
  old_values: { note: 'x=1' },
  new_values: { note: 'line\nbreak' },
  actor_id: 'eve|admin=1 cs5=9:9',
  request_id: 'req\\1',
  context: { reason: 'fix\n#12', ip: '10.0.0.7' },
};

const request: RequestExportRecord = {
  position: '7:4',
  log: 'requests',
  id: '5',
  time: '2026-12-07T10:00:01.000000Z',
  txid: null,
  request_id: 'r-1',
  method: 'POST',
  path: '/x cs5=1:1|y',
  route: null,
  query: null,
  status: 503,
  duration_ms: 12.6,
  aborted: false,
  actor_id: null,
  actor_label: null,
  ip: 'not an ip',
  user_agent: 'curl=8\\',
  request_headers: null,
  response_headers: null,
  request_body: null,
  response_body: null,
  error: 'boom\r\n',
};

describe('CEF', () => {
  it('escapes the header (backslash, pipe; newlines become spaces) and extensions (backslash, equals, newlines)', () => {
    expect(cefHeaderValue(HOSTILE)).toBe('a\\|b\\\\c=d e f');
    expect(cefExtensionValue(HOSTILE)).toBe('a|b\\\\c\\=d\\r\\ne\\nf');
  });

  it('maps a change to CEF keys, one line whatever the values hold', () => {
    const line = cefLine(change);
    expect(line).toBe(
      'CEF:0|Auditrum|Auditrum|1|change:UPDATE|UPDATE public.ord\\|ers\\\\x|3|' +
        `rt=${Date.parse(change.time)} act=UPDATE suser=eve|admin\\=1 cs5\\=9:9 src=10.0.0.7 externalId=42 ` +
        'cs1Label=table cs1=public.ord|ers\\\\x cs2Label=rowKey cs2=a|b\\\\c\\=d\\r\\ne\\nf ' +
        'cs3Label=requestId cs3=req\\\\1 cs4Label=reason cs4=fix\\n#12 cs5Label=position cs5=7:3 ' +
        'cs6Label=context cs6={"reason":"fix\\\\n#12","ip":"10.0.0.7"} ' +
        'msg={"old_values":{"note":"x\\=1"},"new_values":{"note":"line\\\\nbreak"}}\n',
    );
    expect(line.split('\n')).toHaveLength(2);
    // The record is read back from the extension, not from a value that mimics it.
    expect(cefDelivered(line.trimEnd())).toEqual({ position: '7:3', log: 'changes', id: '42' });
  });

  it('maps a request: status, duration, method; an address that is not an IP is left out of src', () => {
    const line = cefLine(request);
    expect(line).toBe(
      'CEF:0|Auditrum|Auditrum|1|request:POST|POST /x cs5=1:1\\|y|6|' +
        `rt=${Date.parse(request.time)} act=POST requestMethod=POST request=/x cs5\\=1:1|y ` +
        'requestClientApplication=curl\\=8\\\\ externalId=5 outcome=503 cn1Label=status cn1=503 cn2Label=durationMs ' +
        'cn2=13 cs1Label=route cs2Label=actorLabel cs3Label=requestId cs3=r-1 cs5Label=position cs5=7:4 msg=boom\\r\\n\n',
    );
    expect(cefDelivered(line.trimEnd())).toEqual({ position: '7:4', log: 'requests', id: '5' });
    expect(cefDelivered('CEF:0|Other|Thing|1|x|y|1|cs5=1:2 externalId=3')).toBeUndefined();
  });

  it('NDJSON is one line per record that parses back to the record', () => {
    const line = ndjsonLine(change);
    expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual(change);
    expect(EXPORT_FORMATS.ndjson.delivered(line.trimEnd())).toEqual({ position: '7:3', log: 'changes', id: '42' });
    expect(EXPORT_FORMATS.ndjson.delivered('{"no": "position"}')).toBeUndefined();
    expect(EXPORT_FORMATS.ndjson.delivered('{"position": "1:2", "log": "changes", "id": "1; DROP"}')).toBeUndefined();
  });
});

describe('the file sink', () => {
  const batch = (from: number, to: number) => {
    const records = Array.from({ length: to - from }, (_, i) => ({ ...change, position: `1:${from + i}` }));
    return {
      text: records.map(ndjsonLine).join(''),
      count: records.length,
      first: `1:${from}`,
      last: `1:${to - 1}`,
      key: 'k',
    };
  };

  it('rotates by size into files whose names sort in the order written, every record once', async () => {
    const dir = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'export-rotate-'));
    const sink = fileSink(join(dir, 'audit'), EXPORT_FORMATS.ndjson, { rotateBytes: 1024 });
    for (let i = 0; i < 30; i += 3) await sink.deliver(batch(i, i + 3));
    await sink.close();
    const names = (await readdir(dir)).sort();
    expect(names.length).toBeGreaterThan(3);
    for (const name of names) expect(name).toMatch(/^audit\.\d{9}\.\d{8}T\d{6}Z\.ndjson$/);
    const lines = (await Promise.all(names.map((name) => readFile(join(dir, name), 'utf8')))).join('').split('\n');
    expect(lines.filter(Boolean).map((line) => JSON.parse(line).position)).toEqual(
      Array.from({ length: 30 }, (_, i) => `1:${i}`),
    );
    expect(await fileSink(join(dir, 'audit'), EXPORT_FORMATS.ndjson).deliveredThrough()).toEqual({
      position: '1:29',
      log: 'changes',
      id: '42',
    });
  });

  it('rotates by age (the time in the name), and numbers on from the newest file after a restart', async () => {
    const dir = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'export-age-'));
    let now = new Date('2026-12-07T10:00:00Z');
    const sink = fileSink(join(dir, 'audit'), EXPORT_FORMATS.ndjson, { rotateSeconds: 60, now: () => now });
    await sink.deliver(batch(0, 1));
    now = new Date('2026-12-07T10:00:59Z');
    await sink.deliver(batch(1, 2));
    now = new Date('2026-12-07T10:01:00Z');
    await sink.deliver(batch(2, 3));
    await sink.close();
    const again = fileSink(join(dir, 'audit'), EXPORT_FORMATS.ndjson, { rotateSeconds: 60, now: () => now });
    now = new Date('2026-12-07T10:02:30Z');
    await again.deliver(batch(3, 4));
    await again.close();
    expect((await readdir(dir)).sort()).toEqual([
      'audit.000000001.20261207T100000Z.ndjson',
      'audit.000000002.20261207T100100Z.ndjson',
      'audit.000000003.20261207T100230Z.ndjson',
    ]);
  });

  it('after a crash mid-line, cuts the partial line off and says the last whole one; refuses a file not of ours', async () => {
    const dir = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'export-torn-'));
    const name = join(dir, 'audit.000000001.20261207T100000Z.ndjson');
    const whole = batch(0, 2).text;
    await writeFile(name, `${whole}{"position":"1:2","log":"chan`);
    const sink = fileSink(join(dir, 'audit'), EXPORT_FORMATS.ndjson);
    expect(await sink.deliveredThrough()).toEqual({ position: '1:1', log: 'changes', id: '42' });
    expect(await readFile(name, 'utf8')).toBe(whole);
    await sink.deliver(batch(2, 3));
    await sink.close();
    expect(await readFile(name, 'utf8')).toBe(whole + batch(2, 3).text);
    await writeFile(name, 'someone else wrote this\n');
    await expect(fileSink(join(dir, 'audit'), EXPORT_FORMATS.ndjson).deliveredThrough()).rejects.toThrow(
      /is not an export record/,
    );
  });
});

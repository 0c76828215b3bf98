import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { useTestDatabase } from '@auditrum/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_FORMATS } from '../src/export/export-format.js';
import { webhookRetryDelay, webhookSink } from '../src/export/webhook-sink.js';
import { waitForHorizon } from './export-horizon.js';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

const db = useTestDatabase();
const other = useTestDatabase();
let dir: string;

/** Runs the CLI once what ended so far is below the horizon, so that an export step takes it all. */
async function cli(args: string[], url = db.url): Promise<CliOutcome> {
  await waitForHorizon(db.pool);
  return runCli(args, { env: { DATABASE_URL: url }, cwd: dir });
}

/** The NDJSON lines printed, as [position, log, id]. */
function printed(stdout: string): [string, string, string][] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .map((r: { position: string; log: string; id: string }) => [r.position, r.log, r.id]);
}

interface Received {
  key: string;
  first: string;
  last: string;
  body: string;
  status: number;
}

/** A local webhook receiver answering each POST with the next status of `statuses` (then 200). */
async function receiver(statuses: number[], headers: Record<string, string> = {}) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      received.push({
        key: String(req.headers['idempotency-key']),
        first: String(req.headers['auditrum-export-first']),
        last: String(req.headers['auditrum-export-last']),
        body,
        status,
      });
      res.writeHead(status, status === 200 ? {} : headers).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/siem`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'export-cli-'));
  for (const database of [db, other]) {
    await database.pool.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
    await database.pool.query(`SELECT auditrum.track('items')`);
  }
  await db.pool.query(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5) g`);
});

afterAll(async () => {
  // Nothing to drop: the databases go with the test kit.
});

describe('auditrum export', () => {
  it('prints NDJSON to stdout, stores the cursor, and resumes from it with only what is new', async () => {
    const first = await cli(['export', '--cursor', 'stdout.cursor']);
    expect(first.code).toBe(0);
    expect(printed(first.stdout)).toEqual([1, 2, 3, 4, 5].map((id, i) => [`1:${i}`, 'changes', String(id)]));
    expect(first.stderr).toBe('exported 5 record(s); cursor at step 1\n');
    const cursor = JSON.parse(await readFile(join(dir, 'stdout.cursor'), 'utf8'));
    expect(cursor).toMatchObject({ format: 'auditrum-export-cursor', version: 1, step: 1, delivered: 5 });
    expect(cursor.database).toMatchObject({ database: db.name, schema: 'auditrum' });
    await db.pool.query(`UPDATE items SET name = 'renamed' WHERE id = 2`);
    const second = await cli(['export', '--cursor', 'stdout.cursor', '--format', 'cef']);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(
      /^CEF:0\|Auditrum\|Auditrum\|1\|change:UPDATE\|UPDATE public\.items\|3\|rt=\d+ act=UPDATE /,
    );
    expect(second.stdout).toContain(' externalId=6 cs1Label=table cs1=public.items cs2Label=rowKey cs2=2 ');
    expect(second.stdout.split('\n')).toHaveLength(2);
    expect((await cli(['export', '--cursor', 'stdout.cursor'])).stdout).toBe('');
  });

  it('a webhook that answers 500 then 200 gets the batch once more with the same key, and every record once', async () => {
    const hook = await receiver([500], { 'retry-after': '0' });
    try {
      const outcome = await cli(['export', '--cursor', 'hook.cursor', '--webhook', hook.url, '--batch', '2']);
      expect(outcome).toMatchObject({ code: 0, stderr: '' });
      expect(outcome.stdout).toBe('exported 6 record(s); cursor at step 1\n');
      expect(hook.received.map((r) => [r.status, r.first, r.last])).toEqual([
        [500, '1:0', '1:1'],
        [200, '1:0', '1:1'],
        [200, '1:2', '1:3'],
        [200, '1:4', '1:5'],
      ]);
      expect(hook.received[0]?.key).toBe(hook.received[1]?.key);
      expect(new Set(hook.received.map((r) => r.key)).size).toBe(3);
      const delivered = hook.received
        .filter((r) => r.status === 200)
        .flatMap((r) => r.body.split('\n').filter(Boolean))
        .map((line) => JSON.parse(line).id);
      expect(delivered).toEqual(['1', '2', '3', '4', '5', '6']);
    } finally {
      await hook.close();
    }
  });

  it('a webhook that refuses (400) fails the export at once, exit 1, the cursor kept at the last batch delivered', async () => {
    await db.pool.query(`INSERT INTO items VALUES (6, 'six'), (7, 'seven')`);
    const before = await readFile(join(dir, 'hook.cursor'), 'utf8');
    const hook = await receiver([400]);
    try {
      const outcome = await cli(['export', '--cursor', 'hook.cursor', '--webhook', hook.url]);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toBe('auditrum: the webhook refused a batch (HTTP 400); not retried\n');
      expect(hook.received).toHaveLength(1);
      // The new step was stored before delivering (write-ahead), with none of it delivered.
      const cursor = JSON.parse(await readFile(join(dir, 'hook.cursor'), 'utf8'));
      expect(cursor).toMatchObject({ step: 2, delivered: 0, from: JSON.parse(before).to });
      // Resumed: the same records, same positions, same key.
      const again = await receiver([]);
      try {
        expect((await cli(['export', '--cursor', 'hook.cursor', '--webhook', again.url])).code).toBe(0);
        expect(again.received.map((r) => [r.key, r.first, r.last])).toEqual([[hook.received[0]?.key, '2:0', '2:1']]);
      } finally {
        await again.close();
      }
    } finally {
      await hook.close();
    }
  });

  it('the webhook sink retries a dropped connection and a 429, gives up after its tries, and sends each try alike', async () => {
    let calls = 0;
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      calls += 1;
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        bodies.push(`${req.headers['idempotency-key']} ${body}`);
        if (calls === 1) req.socket.destroy();
        else if (calls === 2) res.writeHead(429, { 'retry-after': '0' }).end();
        else res.writeHead(calls === 3 ? 204 : 503).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const batch = { text: '{"a":1}\n', count: 1, first: '1:0', last: '1:0', key: 'cursor:1:0:1' };
    try {
      await webhookSink(url, EXPORT_FORMATS.ndjson, { baseDelayMs: 1 }).deliver(batch);
      expect(calls).toBe(3);
      expect(new Set(bodies)).toEqual(new Set(['cursor:1:0:1 {"a":1}\n']));
      await expect(
        webhookSink(url, EXPORT_FORMATS.ndjson, { baseDelayMs: 1, maxAttempts: 2 }).deliver(batch),
      ).rejects.toThrow('auditrum: the webhook did not take a batch after 2 tries (last: HTTP 503)');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a webhook that redirects is not followed: the batch is not counted delivered by a GET without it', async () => {
    const seen: string[] = [];
    let status = 0;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        if (req.url === '/old') res.writeHead(status, { location: '/new' }).end();
        else res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/old`;
    const batch = { text: '{"a":1}\n', count: 1, first: '1:0', last: '1:0', key: 'cursor:1:0:1' };
    try {
      // Followed, 301, 302 and 303 became a GET of /new without the records, and its 200 was taken as delivered.
      for (const code of [301, 302, 303, 307, 308]) {
        status = code;
        seen.length = 0;
        await expect(webhookSink(url, EXPORT_FORMATS.ndjson, { baseDelayMs: 1 }).deliver(batch)).rejects.toThrow(
          `auditrum: the webhook redirected a batch (HTTP ${code} to /new); not followed: give that URL`,
        );
        expect(seen).toEqual(['POST /old {"a":1}\n']);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a webhook answering any 5xx (507, a proxy 522) is tried again, as 500 and 503 are', async () => {
    const hook = await receiver([507, 522]);
    try {
      const batch = { text: '{"a":1}\n', count: 1, first: '1:0', last: '1:0', key: 'cursor:1:0:1' };
      await webhookSink(hook.url, EXPORT_FORMATS.ndjson, { baseDelayMs: 1 }).deliver(batch);
      expect(hook.received.map((r) => r.status)).toEqual([507, 522, 200]);
    } finally {
      await hook.close();
    }
  });

  it('the webhook backoff: full jitter, capped and doubling; Retry-After in seconds or as a date', () => {
    expect(webhookRetryDelay(1, null, { random: () => 1 })).toBe(500);
    expect(webhookRetryDelay(3, null, { random: () => 1 })).toBe(2000);
    expect(webhookRetryDelay(20, null, { random: () => 1 })).toBe(30_000);
    expect(webhookRetryDelay(3, null, { random: () => 0.25 })).toBe(500);
    expect(webhookRetryDelay(1, '7', {})).toBe(7000);
    expect(webhookRetryDelay(1, 'Mon, 07 Dec 2026 10:00:30 GMT', {}, Date.parse('2026-12-07T10:00:00Z'))).toBe(30_000);
    expect(webhookRetryDelay(1, '999999', {})).toBe(600_000);
    expect(webhookRetryDelay(1, 'soon', { random: () => 1 })).toBe(500);
  });

  it('writes rotated files and resumes after the last record in them', async () => {
    const outcome = await cli([
      'export',
      '--cursor',
      'file.cursor',
      '--file',
      'out/audit',
      '--rotate-size',
      '1K',
      '--batch',
      '1',
    ]);
    expect(outcome).toMatchObject({ code: 0, stdout: 'exported 8 record(s); cursor at step 1\n' });
    const names = (await readdir(join(dir, 'out'))).sort();
    expect(names.length).toBeGreaterThan(1);
    const ids = (await Promise.all(names.map((n) => readFile(join(dir, 'out', n), 'utf8'))))
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line).id);
    expect(ids).toEqual(['1', '2', '3', '4', '5', '6', '7', '8']);
  });
});

describe('auditrum export: bad input is refused with a clear message, and nothing is written', () => {
  async function refused(args: string[], message: RegExp | string, url?: string): Promise<void> {
    const files = (await readdir(dir)).sort();
    const outcome = await cli(args, url);
    expect(outcome.stdout).toBe('');
    if (typeof message === 'string') expect(outcome.stderr).toContain(message);
    else expect(outcome.stderr).toMatch(message);
    expect(outcome.code).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(files);
  }

  it('an unknown format, log or flag, a bad number or size', async () => {
    await refused(['export', '--format', 'xml'], "option '--format <format>' argument 'xml' is invalid");
    await refused(['export', '--logs', 'changes,audit'], 'expected changes, requests or both, each once');
    await refused(['export', '--poll', '5'], 'expected a whole number from 10 to 60000');
    await refused(['export', '--batch', '0'], 'expected a whole number from 1 to 100000');
    await refused(['export', '--file', 'x', '--rotate-size', '10'], 'expected a size of at least 1K');
    await refused(['export', '--rotate-size', '1M'], '--rotate-size and --rotate-interval need --file');
    await refused(['export', '--file', 'x', '--webhook', 'http://127.0.0.1:1/'], '--file and --webhook are two sinks');
    await refused(['export', '--webhook', 'ftp://example.com/'], 'is not an http or https URL');
    await refused(['export', '--webhook-header', 'nocolon'], 'expected "Name: value"');
    // fetch refused it at each of the 10 tries (minutes of backoff), then exit 1.
    await refused(
      ['export', '--webhook', 'http://127.0.0.1:1/', '--webhook-header', 'X-Token: a\r\nX-Other: b'],
      'a header value cannot hold a line break or a NUL',
    );
    await refused(['export', '--follw'], "unknown option '--follw'");
  });

  it('a --file that names no file, a --webhook URL with a password (never printed)', async () => {
    // '' wrote <the directory above>/<this directory's name>.000000001….ndjson, 'out/' out.000000001… beside out/.
    const file = '--file: give a path and a name for the files (e.g. exports/audit), not a directory';
    await refused(['export', '--file', ''], file);
    await refused(['export', '--file', 'out/'], file);
    const outcome = await cli(['export', '--webhook', 'https://siem:s3cret@127.0.0.1:1/in', '--webhook-attempts', '1']);
    expect(outcome).toMatchObject({ code: 2, stdout: '' });
    // It failed each try ("Request cannot be constructed from a URL that includes credentials: …s3cret…"), exit 1.
    expect(outcome.stderr).toContain(
      "--webhook: a URL with a user or password cannot be sent: give it as --webhook-header 'Authorization: Basic …'",
    );
    expect(outcome.stderr).not.toContain('s3cret');
  });

  it('a --since without a zone, or not a time', async () => {
    await refused(['export', '--since', '2026-12-01T00:00:00'], 'has no time zone; add Z or an offset');
    await refused(['export', '--since', 'last week'], 'is not an ISO 8601 time with a zone');
  });

  it('a cursor file that is not ours, and --since with a stored cursor', async () => {
    await writeFile(join(dir, 'garbage.cursor'), 'not json at all');
    await refused(['export', '--cursor', 'garbage.cursor'], 'is not an Auditrum export cursor (not JSON)');
    await writeFile(join(dir, 'other.cursor'), JSON.stringify({ format: 'something-else' }));
    await refused(['export', '--cursor', 'other.cursor'], 'is not an Auditrum export cursor (no "format"');
    const stored = JSON.parse(await readFile(join(dir, 'stdout.cursor'), 'utf8'));
    await writeFile(join(dir, 'tampered.cursor'), JSON.stringify({ ...stored, to: '1; DROP TABLE items' }));
    await refused(['export', '--cursor', 'tampered.cursor'], 'is not an Auditrum export cursor (bad "from/to")');
    await refused(
      ['export', '--cursor', 'stdout.cursor', '--since', '2026-12-01T00:00:00Z'],
      '"since" starts a new cursor',
    );
  });

  it('files of another export with a new cursor (they would be skipped or repeated)', async () => {
    const before = await readFile(join(dir, 'out', (await readdir(join(dir, 'out'))).sort().at(-1) as string), 'utf8');
    await refused(
      ['export', '--cursor', 'fresh.cursor', '--file', 'out/audit'],
      'the output already holds records of another export (the last at position 1:7); a new cursor needs new files',
    );
    await refused(['export', '--file', 'out/audit'], 'the output already holds records of another export');
    const names = (await readdir(join(dir, 'out'))).sort();
    expect(await readFile(join(dir, 'out', names.at(-1) as string), 'utf8')).toBe(before);
  });

  it('a cursor from another database, or another schema', async () => {
    const before = await readFile(join(dir, 'stdout.cursor'), 'utf8');
    await refused(
      ['export', '--cursor', 'stdout.cursor'],
      /the cursor belongs to another database \(database "auditrum_t_\w+", oid \d+, system \d+\), not this one/,
      other.url,
    );
    await refused(
      ['export', '--cursor', 'stdout.cursor', '--file', 'nope/audit'],
      'the cursor belongs to another database',
      other.url,
    );
    await db.pool.query('CREATE SCHEMA second_audit');
    const elsewhere = JSON.parse(before);
    elsewhere.database.schema = 'second_audit';
    await writeFile(join(dir, 'schema.cursor'), JSON.stringify(elsewhere));
    await refused(
      ['export', '--cursor', 'schema.cursor'],
      'the cursor belongs to schema "second_audit", not "auditrum"',
    );
    expect(await readFile(join(dir, 'stdout.cursor'), 'utf8')).toBe(before);
  });
});

import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from '../run-cli.js';
import { runCli } from '../run-cli.js';
import { useHistoryReader } from './blame-reader.js';

// `auditrum as-of <table> <time> [--key] [--field] [--format]`, run as a non-superuser reader of the log.
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let before: string;
let middle: string;
let end: string;

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(['as-of', ...args], { env: { DATABASE_URL: reader.url }, cwd: process.cwd() });
}

beforeAll(async () => {
  const app = role.openPool({ max: 1 });
  const audit = createAuditrum({ pool: db.pool, partitions: false });
  const now = async () =>
    (await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`)).rows[0]?.at as string;
  await app.query(
    'CREATE TABLE goods (shop text, sku int, title text, price numeric, secret text, PRIMARY KEY (shop, sku))',
  );
  await app.query(`INSERT INTO goods VALUES ('a', 1, 'Lamp, "big"', 10, 's')`);
  await audit.track('goods', { exclude: ['secret'] });
  before = await now();
  await app.query(`INSERT INTO goods VALUES ('a', 2, '=1+1', NULL, 's'), ('b', 1, 'Desk', 99.5, 's')`);
  await app.query(`UPDATE goods SET price = 12 WHERE sku = 1 AND shop = 'a'`);
  middle = await now();
  await app.query(`DELETE FROM goods WHERE shop = 'b'`);
  await app.query(`UPDATE goods SET title = 'Lamp' WHERE sku = 1 AND shop = 'a'`);
  end = await now();
  await app.query('CREATE TABLE empty (id int PRIMARY KEY)');
  await audit.track('empty');
  await app.query(`GRANT SELECT ON goods, empty TO ${pg.escapeIdentifier(reader.name)}`);
  await app.end();
  await audit.close();
});

describe('auditrum as-of', () => {
  it('prints a table as one JSON array (the original printed objects back to back), a row per line', async () => {
    const out = await cli(['goods', middle]);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const rows = JSON.parse(out.stdout) as { rowKey: string; values: unknown; unknown: unknown; rebuiltFrom: string }[];
    expect(rows.map((row) => row.rowKey).sort()).toEqual(['["a", 1]', '["a", 2]', '["b", 1]']);
    expect(rows.find((row) => row.rowKey === '["a", 1]')).toMatchObject({
      values: { shop: 'a', sku: 1, title: 'Lamp, "big"', price: 12 },
      unknown: [{ column: 'secret', reason: 'excluded' }],
      rebuiltFrom: 'backward',
    });
    expect(out.stdout.split('\n')).toHaveLength(rows.length + 3);
    // Before the table was tracked, a row known to exist at tracking has only its key known.
    const early = await cli(['goods', '2000-01-01T00:00:00Z', '--format', 'jsonl']);
    expect(JSON.parse(early.stdout)).toMatchObject({
      values: { shop: 'a', sku: 1 },
      unknown: [
        { column: 'title', reason: 'before_tracking' },
        { column: 'price', reason: 'before_tracking' },
        { column: 'secret', reason: 'before_tracking' },
      ],
    });
    // No row at all: still an array.
    const empty = await cli(['empty', end]);
    expect(empty).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
  });

  it('prints JSON lines and CSV with a header, an empty cell for NULL and the unknown values named', async () => {
    const lines = await cli(['goods', before, '--format', 'jsonl']);
    expect(lines.code).toBe(0);
    expect(
      lines.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).values),
    ).toEqual([{ shop: 'a', sku: 1, title: 'Lamp, "big"', price: 10 }]);
    const csv = await cli(['goods', middle, '--format', 'csv']);
    expect(csv.code).toBe(0);
    const [header, ...body] = csv.stdout.trim().split('\n');
    expect(header).toBe('shop,sku,title,price,secret,unknown');
    expect(body.sort()).toEqual([
      'a,1,"Lamp, ""big""",12,,secret:excluded',
      // A formula-like text is defused for spreadsheets.
      `a,2,"'=1+1",,,secret:excluded`,
      'b,1,Desk,99.5,,secret:excluded',
    ]);
  });

  it('prints one row with --key, and says on stderr, exit code 4, when there was no such row', async () => {
    const row = await cli(['goods', end, '--key', '["a",1]']);
    expect(row.code).toBe(0);
    expect(JSON.parse(row.stdout)).toEqual([
      {
        exists: true,
        rowKey: '["a", 1]',
        values: { shop: 'a', sku: 1, title: 'Lamp', price: 12 },
        unknown: [{ column: 'secret', reason: 'excluded' }],
        lastChangeId: expect.any(String),
        lastChangedAt: expect.any(String),
        rebuiltFrom: 'live',
      },
    ]);
    const csv = await cli(['goods', end, '--key', '{"shop":"a","sku":"1"}', '--format', 'csv']);
    expect(csv.stdout).toBe('shop,sku,title,price,secret,unknown\na,1,Lamp,12,,secret:excluded\n');
    const gone = await cli(['goods', end, '--key', '["b",1]']);
    expect(gone).toEqual({
      code: 4,
      stdout: '',
      stderr: `auditrum: table goods had no row with key ["b",1] at ${end}\n`,
    });
  });

  it("prints one field's values up to the time with --field", async () => {
    const out = await cli(['goods', end, '--key', '["a",1]', '--field', 'title', '--format', 'jsonl']);
    expect(out.code).toBe(0);
    expect(
      out.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toMatchObject([{ operation: 'UPDATE', value: 'Lamp', oldValue: 'Lamp, "big"', rowKey: '["a", 1]' }]);
    const earlier = await cli(['goods', middle, '--key', '["a",1]', '--field', 'title']);
    expect(JSON.parse(earlier.stdout)).toEqual([]);
    const csv = await cli(['goods', end, '--key', '["a",2]', '--field', 'price', '--format', 'csv']);
    expect(csv.stdout.split('\n')[0]).toBe(
      'change_id,changed_at,operation,row_key,value,old_value,unknown,actor_id,request_id,reason',
    );
    expect(csv.stdout.split('\n')[1]).toMatch(/^\d+,[^,]+,INSERT,"\[""a"", 2\]",,,,,,$/);
  });

  it('says so when the database cannot be reached, for a whole table as for one row (exit code 1)', async () => {
    for (const args of [
      ['goods', end],
      ['goods', end, '--key', '["a",1]'],
    ]) {
      const out = await runCli(['as-of', ...args], {
        env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
        cwd: process.cwd(),
      });
      expect(out.code).toBe(1);
      expect(out.stderr).toContain('cannot connect to the database at 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
    }
  });

  it('refuses bad input with exit code 2 and a clear message', async () => {
    const cases: [string[], string][] = [
      [['nope', end], 'auditrum: table "nope" does not exist'],
      [
        ['goods', '2024-05-01T10:00:00'],
        'auditrum: the time "2024-05-01T10:00:00" has no time zone; add Z or an offset',
      ],
      [['goods', 'tomorrow'], 'auditrum: the time "tomorrow" is not an ISO 8601 time with a zone'],
      [
        ['goods', end, '--key', '1'],
        'auditrum: the key of table public.goods is (shop, sku): give 2 value(s), not "1"',
      ],
      [['goods', end, '--key', '["a",'], 'auditrum: the key ["a", is not valid JSON'],
      [['goods', end, '--key', '["a",1]', '--field', 'nope'], 'auditrum: table public.goods has no column nope'],
      [['goods', end, '--field', 'title'], 'auditrum: --field needs --key'],
      [['goods', end, '--format', 'xml'], "auditrum: option '--format <format>' argument 'xml' is invalid"],
      [['goods'], "auditrum: missing required argument 'time'"],
    ];
    for (const [args, message] of cases) {
      const out = await cli(args);
      expect(out.code, args.join(' ')).toBe(2);
      expect(out.stdout, args.join(' ')).toBe('');
      expect(out.stderr, args.join(' ')).toContain(message);
    }
  });
});

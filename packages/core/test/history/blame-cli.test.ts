import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import type { RowBlame } from '@auditrum/core';
import { createAuditrum, instrumentPg, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from '../run-cli.js';
import { runCli } from '../run-cli.js';
import { useHistoryReader } from './blame-reader.js';

// `auditrum blame <table> <key> [field]`: a table of who set each field, coloured only on a terminal that takes
// colours, `--json` as a JSON object, and bad input refused with a clear message and exit code 2.
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let app: pg.Pool;
let changes: { id: string; txid: string; at: string }[];

function cli(args: string[], colors = false): Promise<CliOutcome> {
  return runCli(['blame', ...args], { env: { DATABASE_URL: reader.url }, cwd: process.cwd(), colors });
}

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const hooks = new URL('../../../../test/source-hooks.ts', import.meta.url).href;

/** The CLI as its own process, from source: stdout a pipe, or (`terminal`) a terminal made by `script`. */
async function realProcess(
  args: string[],
  env: Record<string, string>,
  terminal = false,
): Promise<{ code: number | null; stdout: string }> {
  const node = [process.execPath, '--experimental-transform-types', '--no-warnings', '--import', hooks, main, ...args];
  // Node takes colour hints from these, and from CI (a terminal under an unnamed CI gets none): the test sets them.
  const { NO_COLOR: _no, FORCE_COLOR: _force, NODE_DISABLE_COLORS: _disable, CI: _ci, ...inherited } = process.env;
  const child = spawn(
    terminal ? 'script' : (node[0] as string),
    terminal ? ['-qec', node.map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' '), '/dev/null'] : node.slice(1),
    { env: { ...inherited, DATABASE_URL: reader.url, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, stdout };
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  instrumentPg(app);
  await app.query('CREATE TABLE people (id int PRIMARY KEY, name text, email text, note text)');
  await app.query('CREATE TABLE stock (shop text, sku text, qty int, PRIMARY KEY (shop, sku))');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.people', { mask: ['email'], exclude: ['note'] });
  await auditrum.track('public.stock');
  await app.query(`GRANT SELECT ON people, stock TO ${reader.name}`);
  await withAuditContext({ actor: { id: 'u1', label: 'Ann' }, requestId: 'req-1', source: 'http' }, () =>
    app.query(`INSERT INTO people VALUES (1, 'Ann', 'ann@x.test', 'n')`),
  );
  // A reason with terminal control characters: printed escaped, never sent to the terminal as they are.
  await withAuditContext({ actor: { id: 'u2' }, requestId: 'req-2', reason: 'typo\u001b[2J', source: 'http' }, () =>
    app.query(`UPDATE people SET name = 'Anne', email = 'anne@x.test' WHERE id = 1`),
  );
  await withAuditContext({ actor: { id: 'u3' }, requestId: 'req-3', source: 'job' }, () =>
    app.query(`INSERT INTO stock VALUES ('north', 'A-1', 5)`),
  );
  const { rows } = await db.pool.query<{ id: string; txid: string; at: string }>(
    `SELECT c.id::text AS id, c.txid::text AS txid,
       to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at
     FROM auditrum.changes c ORDER BY c.id`,
  );
  changes = rows;
});
afterAll(() => app.end());

describe('auditrum blame', () => {
  it('prints one line per field as plain text when the output takes no colours', async () => {
    const [insert, update] = changes;
    const out = await cli(['public.people', '1']);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(out.stdout).not.toContain('\u001b');
    const lines = out.stdout.split('\n').map((line) => line.split(/ {2,}/));
    expect(lines).toEqual([
      ['public.people 1'],
      ['FIELD', 'CHANGE', 'WHEN', 'WHO', 'REQUEST', 'TXID', 'SOURCE', 'WHY', 'VALUE'],
      ['id', `${insert?.id} INSERT`, insert?.at, 'u1 (Ann)', 'req-1', insert?.txid, 'http', '-', '1'],
      [
        'name',
        `${update?.id} UPDATE`,
        update?.at,
        'u2',
        'req-2',
        update?.txid,
        'http',
        'typo\\u001b[2J',
        '"Ann" → "Anne"',
      ],
      [
        'email',
        `${update?.id} UPDATE`,
        update?.at,
        'u2',
        'req-2',
        update?.txid,
        'http',
        'typo\\u001b[2J',
        '(masked: changed, value not kept)',
      ],
      ['note', 'unknown', "unknown: the table's rules leave this column out of the log"],
      [''],
    ]);
    expect(out.stdout).not.toContain('anne@x.test');
  });

  it('colours the same text on a terminal', async () => {
    const plain = await cli(['public.people', '1']);
    const coloured = await cli(['public.people', '1'], true);
    expect(coloured.code).toBe(0);
    expect(coloured.stdout).toContain('\u001b[33m');
    expect(stripVTControlCharacters(coloured.stdout)).toBe(plain.stdout);
  });

  it('prints --json as one JSON object, for one field, with a composite key as JSON', async () => {
    const out = await cli(['stock', '["north","A-1"]', 'qty', '--json']);
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as RowBlame;
    const stock = changes[2];
    expect(result).toEqual({
      table: 'public.stock',
      rowKey: '["north", "A-1"]',
      deletedBy: null,
      when: null,
      fields: [
        {
          field: 'qty',
          change: {
            id: stock?.id,
            changedAt: expect.stringMatching(/Z$/),
            txid: stock?.txid,
            operation: 'INSERT',
            actorId: 'u3',
            actorLabel: null,
            requestId: 'req-3',
            reason: null,
            source: 'job',
            dbUser: null,
            claimed: null,
          },
          oldValue: null,
          newValue: 5,
          masked: false,
          oversized: false,
          erased: false,
          unknown: null,
        },
      ],
    });
    const byObject = await cli(['stock', '{"sku":"A-1","shop":"north"}', 'qty', '--json']);
    expect(JSON.parse(byObject.stdout)).toEqual(result);
  });

  it('prints plain text when its output is a pipe, even with FORCE_COLOR', async () => {
    const piped = await realProcess(['blame', 'people', '1'], { FORCE_COLOR: '1' });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe((await cli(['public.people', '1'])).stdout);
  });

  // util-linux `script` gives the process a terminal; where it is missing (not Linux) there is nothing to run.
  it.runIf(spawnSync('script', ['--version']).status === 0)(
    'colours on a terminal, and prints plain text there with NO_COLOR',
    async () => {
      const plain = (await cli(['public.people', '1'])).stdout;
      const terminal = await realProcess(['blame', 'people', '1'], { TERM: 'xterm-256color' }, true);
      expect(terminal.code).toBe(0);
      expect(terminal.stdout).toContain('\u001b[33m');
      expect(stripVTControlCharacters(terminal.stdout).replaceAll('\r\n', '\n')).toBe(plain);
      const noColor = await realProcess(['blame', 'people', '1'], { TERM: 'xterm-256color', NO_COLOR: '1' }, true);
      expect(noColor.stdout.replaceAll('\r\n', '\n')).toBe(plain);
    },
  );

  it.each([
    [['nowhere', '1'], 'no table "nowhere"'],
    [['people', 'abc'], '"abc" is not a valid integer for key column id of table public.people'],
    [['people', '[1,2]'], 'the key of table public.people is (id): give 1 value(s), not [1, 2]'],
    [['people', '[1,'], 'the key [1, is not valid JSON'],
    [['stock', 'north'], 'the key of table public.stock is (shop, sku): give 2 value(s)'],
    [['people', '1', 'nope'], 'table public.people has no column "nope" (its columns: id, name, email, note)'],
    [['pg_class', '1'], 'table pg_catalog.pg_class is not tracked: it has no history'],
    [['people'], "missing required argument 'key'"],
  ])('refuses %j with a clear message and exit code 2', async (args, message) => {
    const out = await cli(args);
    expect(out).toMatchObject({ code: 2, stdout: '' });
    expect(out.stderr).toContain(message);
  });

  it("notes the table's when rule under the table", async () => {
    await app.query('CREATE TABLE drafts (id int PRIMARY KEY, status text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.drafts', { when: "NEW.status <> 'x'" });
    await app.query(`GRANT SELECT ON drafts TO ${reader.name}`);
    await app.query(`INSERT INTO drafts VALUES (1, 'a')`);
    const out = await cli(['drafts', '1']);
    expect(out.code).toBe(0);
    expect(out.stdout.trimEnd().split('\n').at(-1)).toBe(
      `changes that did not match the table's rule "when NEW.status <> 'x'" were not recorded`,
    );
  });

  it('says there is no such row with exit code 4', async () => {
    expect(await cli(['people', '2'])).toEqual({
      code: 4,
      stdout: '',
      stderr: 'auditrum: table public.people has no row with key 2, now or in its history\n',
    });
  });

  it('says so when the database cannot be reached (exit code 1)', async () => {
    const out = await runCli(['blame', 'people', '1'], {
      env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
      cwd: process.cwd(),
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('cannot connect to the database at 127.0.0.1:1');
  });
});

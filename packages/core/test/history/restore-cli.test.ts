import { createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from '../run-cli.js';
import { runCli } from '../run-cli.js';
import { changesAfter, grantRestoreReader, lastChangeId, rowsAsText } from './restore-support.js';

// auditrum revert | restore | undelete | undo, as the application role, with --dry-run, --force, --reason, --actor.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

function cli(args: string[], env: Record<string, string> = {}): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: role.url, USER: 'alice', ...env }, cwd: process.cwd() });
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  await grantRestoreReader(db.pool, role.name);
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text, total numeric)');
  const owner = createAuditrum({ pool: db.pool, partitions: false });
  await owner.track('public.orders');
  await owner.close();
  await app.query(`INSERT INTO orders VALUES (1, 'new', 10), (2, 'new', 20), (3, 'new', 30)`);
});
afterAll(() => app.end());

async function latest(): Promise<string> {
  return lastChangeId(db.pool);
}

describe('auditrum revert', () => {
  it('prints the exact SQL, its parameters and the diff on --dry-run, and changes nothing', async () => {
    await app.query(`UPDATE orders SET status = 'paid' WHERE id = 1`);
    const update = await latest();
    const outcome = await cli(['revert', update, '--dry-run']);
    expect(outcome).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        '-- revert: 1 statement(s)',
        '',
        `-- public.orders 1: UPDATE, reverts change(s) ${update}`,
        '--   status: "paid" → "new"',
        'UPDATE "public"."orders" AS t SET "status" = v."status" FROM jsonb_to_record($1::jsonb) AS v("status" text), jsonb_to_record($2::jsonb) AS k("id" integer) WHERE t."id" = k."id";',
        '--   $1 = {"status":"new"}',
        '--   $2 = {"id":"1"}',
        '-- nothing was changed',
        '',
      ].join('\n'),
    });
    expect(await latest()).toBe(update);
  });

  it('needs --reason to write; records it with the OS user as actor, or --actor', async () => {
    const update = await latest();
    expect(await cli(['revert', update])).toMatchObject({ code: 2, stderr: expect.stringContaining('give --reason') });
    const outcome = await cli(['revert', update, '--reason', 'paid twice']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(
      /-- done: recorded as change\(s\) \d+; undo it with: auditrum undo --request [0-9a-f-]{36}\n$/,
    );
    const [written] = await changesAfter(db.pool, update);
    expect(written).toMatchObject({
      actor_id: 'alice',
      context: { source: 'restore', reason: 'paid twice', reverts: [update] },
    });
    await app.query(`UPDATE orders SET status = 'paid' WHERE id = 2`);
    const second = await latest();
    await cli(['revert', second, '--reason', 'r', '--actor', 'ops-bot']);
    expect((await changesAfter(db.pool, second))[0]?.actor_id).toBe('ops-bot');
  });

  it('exits 1 on a conflict, naming it, and writes with --force', async () => {
    await app.query(`UPDATE orders SET total = 11 WHERE id = 3`);
    const first = await latest();
    await app.query(`UPDATE orders SET total = 12 WHERE id = 3`);
    const second = await latest();
    const refused = await cli(['revert', first, '--reason', 'r']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(
      `-- conflict: public.orders 3: change #${second} (later than #${first}) changed total`,
    );
    expect(refused.stderr).toContain('nothing was changed; force overrides them');
    expect(await latest()).toBe(second);
    expect((await cli(['revert', first, '--reason', 'r', '--force'])).code).toBe(0);
    expect(await rowsAsText(app, 'orders', 'id = 3')).toEqual(['(3,new,30)']);
  });

  it.each([
    [['revert', 'abc', '--reason', 'r'], 'the change id "abc" is not a change id'],
    [['revert', '1', '--table', 'orders', '--reason', 'r'], 'give --table and --key together'],
    [
      ['revert', '1', '--table', 'orders', '--key', '2', '--reason', 'r'],
      'change #1 is a change of row 1 of public.orders, not of row 2',
    ],
    [['revert', '1', '--table', 'nope', '--key', '2', '--reason', 'r'], 'no tracked table "nope"'],
    [['revert', '1', '--table', 'orders', '--key', '[1,', '--reason', 'r'], 'the key [1, is not valid JSON'],
    [['restore', 'orders', '--key', '1', '--at', '2024-05-01 10:00', '--reason', 'r'], 'has no time zone'],
    [['restore', 'orders', '--key', '1', '--reason', 'r'], 'give either --at or --before'],
    [
      ['restore', 'orders', '--key', '1', '--at', '2024-05-01T10:00Z', '--before', '1', '--reason', 'r'],
      'give either --at or --before',
    ],
    [['undelete', 'orders', '--reason', 'r'], 'give either --key or --list'],
    [['undelete', 'orders', '--list', '--limit', '0'], 'the limit must be a whole number from 1 to 1000'],
    [['undelete', 'orders', '--list', '--limit', 'ten'], '--limit expects a whole number from 1 to 1000'],
    [['undelete', 'orders', '--list', '--before', 'x'], 'the before "x" is not a change id'],
    [['undelete', 'no_such_table', '--list'], 'no tracked table "no_such_table"'],
    [['undelete', 'orders', '--key', '1', '--reason', 'r'], 'row 1 of public.orders is not deleted'],
    [['undo', '--reason', 'r'], 'give either --request or --txid'],
    [
      ['undo', '--txid', '1; DROP TABLE orders', '--reason', 'r'],
      'is not one (digits, or digits@boundary for a restored one)',
    ],
  ])('auditrum %j exits 2 with a clear error and changes nothing', async (args, message) => {
    const mark = await latest();
    const outcome = await cli(args);
    expect(outcome).toMatchObject({ code: 2, stdout: '' });
    expect(outcome.stderr).toContain(message);
    expect(await latest()).toBe(mark);
  });
});

describe('auditrum restore, undelete and undo', () => {
  it('restore --before puts a row back as it was before a change', async () => {
    await app.query(`UPDATE orders SET status = 'shipped', total = 99 WHERE id = 2`);
    const update = await latest();
    const outcome = await cli(['restore', 'public.orders', '--key', '2', '--before', update, '--reason', 'r']);
    expect(outcome.code).toBe(0);
    expect(await rowsAsText(app, 'orders', 'id = 2')).toEqual(['(2,new,20)']);
  });

  it('restore --at takes a time with its zone', async () => {
    const { rows } = await db.pool.query<{ at: string }>(
      `SELECT to_json(max(changed_at)) #>> '{}' AS at FROM auditrum.changes`,
    );
    await app.query(`UPDATE orders SET total = 0 WHERE id = 1`);
    const outcome = await cli(['restore', 'orders', '--key', '1', '--at', rows[0]?.at ?? '', '--reason', 'r']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('--   total: 0 → 10');
    expect(await rowsAsText(app, 'orders', 'id = 1')).toEqual(['(1,new,10)']);
  });

  it('undelete --list shows the recycle bin; undelete --key brings a row back', async () => {
    await withAuditContext({ actor: { id: 'bob' }, reason: 'spam' }, () =>
      app.query('DELETE FROM orders WHERE id = 3'),
    );
    const list = await cli(['undelete', 'orders', '--list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      /^ {2}KEY {2}DELETED BY CHANGE {2}AT +WHO {2}WHY {3}ROW\n {2}3 {4}\d+ +\S+Z {2}bob {2}spam {2}\{"id":3,"total":30,"status":"new"\}\n$/,
    );
    expect((await cli(['undelete', 'orders', '--key', '3', '--reason', 'misclick'])).code).toBe(0);
    expect(await rowsAsText(app, 'orders', 'id = 3')).toEqual(['(3,new,30)']);
    expect(await cli(['undelete', 'orders', '--list'])).toEqual({ code: 0, stdout: 'no deleted rows\n', stderr: '' });
  });

  it('undo --request reverses a request; --json prints the result', async () => {
    await withAuditContext({ requestId: 'cli-req' }, async () => {
      await app.query(`UPDATE orders SET status = 'void' WHERE id IN (1, 2)`);
      await app.query('DELETE FROM orders WHERE id = 3');
    });
    const mark = await latest();
    const outcome = await cli(['undo', '--request', 'cli-req', '--reason', 'r', '--json']);
    expect(outcome.code).toBe(0);
    const result = JSON.parse(outcome.stdout) as { applied: boolean; changeIds: string[] };
    expect(result.applied).toBe(true);
    expect(result.changeIds).toEqual((await changesAfter(db.pool, mark)).map((c) => c.id));
    expect(await rowsAsText(app, 'orders')).toEqual(['(1,new,10)', '(2,new,20)', '(3,new,30)']);
  });

  it('prints help for each command', async () => {
    for (const command of ['revert', 'restore', 'undelete', 'undo']) {
      const outcome = await cli([command, '--help']);
      expect(outcome).toMatchObject({ code: 0, stderr: '' });
      expect(outcome.stdout).toContain(`Usage: auditrum ${command}`);
      expect(outcome.stdout).toContain('--dry-run');
    }
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { doctor, erase, harden, migrate, purge } from '@auditrum/core';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// The application role may create in public (it owns the database, or PostgreSQL 14 and older let every role). A
// function or operator of its own there that takes an argument's type exactly, where the built-in needs a cast, is
// chosen over the built-in whatever the search_path's order (CVE-2018-1058): run by the CLI as a superuser, it would
// make the application role a superuser. Each trap below does what the built-in does, and notes who called it.
const db = useTestDatabase();
const app = useAppRole(db);
const admin = useAdminRole(db);
let appPool: pg.Pool;
let dir: string;

// [function, its arguments, its result, the built-in's result over $1, $2]: built-ins a query may call on a name or
// an integer literal, where the built-in takes text or a bigint.
const TRAPS: readonly [string, string, string, string][] = [
  ['quote_ident', 'name', 'text', 'pg_catalog.quote_ident($1::text)'],
  ['lower', 'name', 'text', 'pg_catalog.lower($1::text)'],
  ['upper', 'name', 'text', 'pg_catalog.upper($1::text)'],
  ['length', 'name', 'integer', 'pg_catalog.length($1::text)'],
  ['hashtextextended', 'text, integer', 'bigint', 'pg_catalog.hashtextextended($1, $2)'],
  ['format', 'text, name', 'text', 'pg_catalog.format($1, $2::text)'],
  ['to_regclass', 'name', 'regclass', 'pg_catalog.to_regclass($1::text)'],
];
// Operators between an oid and an oid alias (a catalog's oid against 'pg_class'::regclass…).
const OPERATOR_TRAPS: readonly string[] = ['regclass', 'regtype', 'regnamespace', 'regrole', 'regproc'];

function cli(args: string[], url = db.url): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: url }, cwd: dir });
}

/** Who ran a trap other than the application role itself, and whether it became a superuser; then reset both. */
async function sprung(): Promise<{ calls: string[]; appIsSuperuser: boolean }> {
  const calls = await db.pool.query<{ call: string }>(
    `SELECT DISTINCT fn || ' as ' || caller AS call FROM public.trap_calls WHERE caller <> $1 ORDER BY 1`,
    [app.name],
  );
  const { rows } = await db.pool.query<{ super: boolean }>(
    'SELECT rolsuper AS super FROM pg_roles WHERE rolname = $1',
    [app.name],
  );
  await db.pool.query(`TRUNCATE public.trap_calls; ALTER ROLE ${pg.escapeIdentifier(app.name)} NOSUPERUSER`);
  return { calls: calls.rows.map((row) => row.call), appIsSuperuser: rows[0]?.super === true };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditrum-search-path-'));
  appPool = app.openPool({ max: 1 });
  await appPool.query('CREATE TABLE orders (id int PRIMARY KEY, email text)');
  await db.pool.query(`SELECT auditrum.track('public.orders')`);
  await appPool.query(`INSERT INTO orders VALUES (1, 'a@example.com'); UPDATE orders SET email = 'b@example.com'`);
  await appPool.query(
    `CREATE TABLE public.trap_calls (fn text, caller text);
     GRANT INSERT ON public.trap_calls TO PUBLIC;
     CREATE FUNCTION public.trap(fn text) RETURNS void LANGUAGE plpgsql AS $$
     BEGIN
       INSERT INTO public.trap_calls VALUES (fn, current_user);
       IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
         EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', ${pg.escapeLiteral(app.name)});
       END IF;
     END $$`,
  );
  for (const [name, args, result, body] of TRAPS) {
    await appPool.query(
      `CREATE FUNCTION public.${name}(${args}) RETURNS ${result} LANGUAGE plpgsql AS $$
       BEGIN PERFORM public.trap('${name}(${args.replaceAll(' ', '')})'); RETURN ${body}; END $$`,
    );
  }
  for (const alias of OPERATOR_TRAPS) {
    for (const [left, right] of [
      ['oid', alias],
      [alias, 'oid'],
    ]) {
      await appPool.query(
        `CREATE FUNCTION public.trap_eq_${left}_${right}(${left}, ${right}) RETURNS boolean LANGUAGE plpgsql AS $$
         BEGIN PERFORM public.trap('=(${left},${right})'); RETURN $1::oid = $2::oid; END $$;
         CREATE OPERATOR public.= (LEFTARG = ${left}, RIGHTARG = ${right}, FUNCTION = public.trap_eq_${left}_${right})`,
      );
    }
  }
});

afterAll(async () => {
  await appPool.end();
  await sprung();
  await rm(dir, { recursive: true, force: true });
});

describe('the CLI and the API as a superuser, where the application role created look-alikes of built-ins in public', () => {
  it('the traps work: the application role calling them itself is noted', async () => {
    await appPool.query(`SELECT quote_ident('orders'::name)`);
    const { rows } = await db.pool.query('SELECT fn, caller FROM public.trap_calls');
    expect(rows).toEqual([{ fn: 'quote_ident(name)', caller: app.name }]);
    await db.pool.query('TRUNCATE public.trap_calls');
  });

  it.each([
    [['migrate']],
    [['status']],
    [['partitions', '--ahead', '2']],
    [['track', 'orders', '--mask', 'email']],
    [['sync', '--check', '--config', 'auditrum.config.json']],
    [['as-of', 'orders', '2999-01-01T00:00:00Z']],
    [['as-of', 'orders', '2999-01-01T00:00:00Z', '--key', '1']],
    [['blame', 'orders', '1']],
    [['undelete', 'orders', '--list']],
    [['seal', '--sign-key', 'seal.pem', '--checkpoints', 'checkpoints.jsonl']],
    [['verify', '--checkpoints', 'checkpoints.jsonl', '--public-key', 'seal.pub']],
    [['purge', '--older-than', '10 years', '--dry-run']],
    [['purge', '--older-than', '10 years']],
    [['erase', '--table', 'orders', '--key', '1', '--columns', 'email', '--reason', 'ticket 1', '--dry-run']],
    [['export', '--cursor', 'cursor.json']],
    [['harden', '--app-role', app.name, '--admin-role', admin.name]],
    [['doctor']],
  ])('auditrum %j runs none of them', async (args) => {
    if (args[0] === 'seal') {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      await writeFile(join(dir, 'seal.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await writeFile(join(dir, 'seal.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    }
    if (args[0] === 'sync') {
      await writeFile(join(dir, 'auditrum.config.json'), JSON.stringify({ tables: { orders: { mask: ['email'] } } }));
    }
    const result = await cli(args);
    expect(await sprung()).toEqual({ calls: [], appIsSuperuser: false });
    // Each still does its work, the tables named without a schema found in public as before.
    expect(result.stderr).not.toMatch(/not found|does not exist|not tracked/);
    expect([0, 3]).toContain(result.code);
  });

  it.each([
    ['migrate()', () => migrate(db.pool)],
    ['doctor()', () => doctor(db.pool, 'auditrum')],
    ['purge()', () => purge(db.pool, 'auditrum', { olderThan: '10 years' })],
    [
      'erase()',
      () =>
        erase(db.pool, 'auditrum', {
          subject: { table: 'orders', key: '1', columns: ['email'] },
          reason: 'ticket 2',
          dryRun: true,
        }),
    ],
    ['harden()', () => harden(db.pool, 'auditrum', { appRole: app.name, adminRole: admin.name })],
  ])('the API: %s with a superuser pool (its own search_path) runs none of them', async (_name, call) => {
    await call();
    expect(await sprung()).toEqual({ calls: [], appIsSuperuser: false });
  });

  it('the names printed are the tables the user named, found in the search_path it connected with', async () => {
    const result = await cli(['as-of', 'orders', '2999-01-01T00:00:00Z', '--key', '1', '--format', 'json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toMatchObject([{ values: { id: 1, email: 'b@example.com' } }]);
  });
});

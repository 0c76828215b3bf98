import {
  blame,
  ComplianceInputError,
  erase,
  erasedActorId,
  fieldHistory,
  harden,
  RestoreError,
  restoreRow,
  revert,
  seal,
  undo,
  verify,
} from '@auditrum/core';
import type { Change, HistoryResponse } from '@auditrum/core/admin';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDownload, adminRead } from './admin-read.js';
import { runCli } from './run-cli.js';

// A row key an erasure gave (`erased:<erasure id>`, when it erased a key column) and a real row of the same table
// whose key is that text: keys are any text a key column holds. The two-role set-up: the application's non-superuser
// role owns the table and writes, a non-superuser admin role owns the schema and erases (harden).
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let owner: pg.Pool;

/** The erasure of Alice's row (its key, alice@example.com, erased), and the key it gave. */
let aliceErasure: string;
let pseudonym: string;

/** Every version of the table's rows as the log holds them, oldest first. */
async function versions(): Promise<unknown[]> {
  const { rows } = await db.pool.query(
    `SELECT c.row_key AS key, c.new_values->>'email' AS email, c.new_values->>'name' AS name
     FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.table_name = 'people' ORDER BY c.id`,
  );
  return rows;
}

async function snapshot(): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT (SELECT json_agg(c ORDER BY c.id) FROM auditrum.changes c)::text
       || (SELECT coalesce(json_agg(e ORDER BY e.id), '[]') FROM auditrum.erasures e)::text
       || (SELECT coalesce(json_agg(e ORDER BY e.erasure_id, e.change_id), '[]') FROM auditrum.erased_changes e)::text
       AS all`,
  );
  return (rows[0] as { all: string }).all;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  owner = adminRole.openPool({ max: 2 });
  await app.query('CREATE TABLE people (email text PRIMARY KEY, name text)');
  await db.pool.query(`SELECT auditrum.track('people')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
  await app.query(`INSERT INTO people VALUES ('alice@example.com', 'Alice')`);
  await app.query(`UPDATE people SET name = 'Alice L.' WHERE email = 'alice@example.com'`);
  await seal(owner, 'auditrum');
  const erased = await erase(owner, 'auditrum', {
    subject: { table: 'public.people', key: 'alice@example.com', columns: ['email'] },
    reason: 'GDPR request 1',
  });
  aliceErasure = erased.erasureId as string;
  pseudonym = erasedActorId(aliceErasure);
  // Another row, whose key the application sets to the pseudonym's text.
  await app.query(`INSERT INTO people VALUES ($1, 'Eve')`, [pseudonym]);
  await app.query(`UPDATE people SET name = 'Eve E.' WHERE email = $1`, [pseudonym]);
  await seal(owner, 'auditrum');
  expect(await versions()).toEqual([
    { key: pseudonym, email: '[erased]', name: 'Alice' },
    { key: pseudonym, email: null, name: 'Alice L.' },
    { key: pseudonym, email: pseudonym, name: 'Eve' },
    { key: pseudonym, email: null, name: 'Eve E.' },
  ]);
});

afterAll(async () => {
  await Promise.all([app, owner].map((pool) => pool.end()));
});

describe('a real row whose key reads as an erasure’s key pseudonym', () => {
  it('is refused bad input on the erased row, and nothing changes', async () => {
    const before = await snapshot();
    const cases: [unknown, string][] = [
      [
        { table: 'public.people', keyErasure: '99', columns: ['name'] },
        'erasure 99 erased no key of table public.people',
      ],
      [{ table: 'public.people', keyErasure: 'x', columns: ['name'] }, "keyErasure must be an erasure's id"],
      [{ table: 'public.people', keyErasure: '99999999999999999999', columns: ['name'] }, 'keyErasure must be'],
      [
        { table: 'public.people', keyErasure: '9223372036854775808', columns: ['name'] },
        'key_erasure is the id of the erasure',
      ],
      [{ table: 'public.people', keyErasure: aliceErasure, columns: ['shoe'] }, 'has no column shoe'],
      [{ table: 'public.people', key: 'x', keyErasure: aliceErasure, columns: ['name'] }, 'the subject of an erasure'],
    ];
    for (const [subject, message] of cases) {
      const error = await erase(owner, 'auditrum', { subject: subject as never, reason: 'r' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ComplianceInputError);
      expect((error as Error).message).toContain(message);
    }
    const both = await runCli(
      ['erase', '--table', 'people', '--key', 'x', '--key-erasure', aliceErasure, '--columns', 'name', '--reason', 'r'],
      { env: { DATABASE_URL: adminRole.url }, cwd: process.cwd() },
    );
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('give --key or --key-erasure, not both')]);
    expect(await snapshot()).toBe(before);
  });

  it('is the only one the admin’s key filter and history list; the erased row’s versions are marked, by its erasure', async () => {
    const listed = async (query: Record<string, string>) =>
      (await adminRead<{ items: Change[] }>(app, 'api/changes', query)).items
        .map((c) => [c.rowKey, c.keyErasure, c.newValues?.name])
        .reverse();
    const real = [pseudonym, undefined];
    const erasedKey = [pseudonym, aliceErasure];
    expect(await listed({ table: 'public.people', key: pseudonym })).toEqual([
      [...real, 'Eve'],
      [...real, 'Eve E.'],
    ]);
    expect(await listed({ key: pseudonym })).toEqual([
      [...real, 'Eve'],
      [...real, 'Eve E.'],
    ]);
    expect(await listed({ erasure: aliceErasure })).toEqual([
      [...erasedKey, 'Alice'],
      [...erasedKey, 'Alice L.'],
    ]);
    expect(await listed({ table: 'public.people' })).toEqual([
      [...erasedKey, 'Alice'],
      [...erasedKey, 'Alice L.'],
      [...real, 'Eve'],
      [...real, 'Eve E.'],
    ]);
    const history = await adminRead<HistoryResponse>(app, 'api/history', { table: 'public.people', key: pseudonym });
    expect(history.versions.map((v) => [v.change.newValues?.name, v.state])).toEqual([
      ['Eve', { email: pseudonym, name: 'Eve' }],
      ['Eve E.', { email: pseudonym, name: 'Eve E.' }],
    ]);
    const csv = await adminDownload(app, 'api/changes/export', { table: 'public.people', format: 'csv' });
    const [header, ...lines] = csv.trim().split('\r\n');
    const column = header?.split(',').indexOf('key_erasure') as number;
    expect(column).toBe(7);
    expect(lines.map((line) => line.split(',')[column])).toEqual(['', '', aliceErasure, aliceErasure]);
    const ndjson = (await adminDownload(app, 'api/changes/export', { table: 'public.people', format: 'ndjson' }))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Change);
    expect(ndjson.map((c) => c.keyErasure)).toEqual([undefined, undefined, aliceErasure, aliceErasure]);
  });

  it('alone is blamed and has its field’s history read by its key', async () => {
    const ids = async (name: string) =>
      (
        await db.pool.query<{ id: string }>(
          `SELECT id::text FROM auditrum.changes WHERE new_values->>'name' = $1 ORDER BY id`,
          [name],
        )
      ).rows.map((row) => row.id);
    const [eveInsert, eveUpdate] = [...(await ids('Eve')), ...(await ids('Eve E.'))];
    const blamed = await blame(app, 'auditrum', { table: 'public.people', key: pseudonym });
    expect(blamed.fields.map((f) => [f.field, f.change?.id, f.change?.operation, f.newValue])).toEqual([
      ['email', eveInsert, 'INSERT', pseudonym],
      ['name', eveUpdate, 'UPDATE', 'Eve E.'],
    ]);
    expect(blamed.deletedBy).toBeNull();
    const history = await fieldHistory(app, 'auditrum', { table: 'public.people', key: pseudonym, field: 'name' });
    expect(history.map((e) => [e.changeId, e.operation, e.value, e.oldValue, e.rowKey])).toEqual([
      [eveInsert, 'INSERT', 'Eve', null, pseudonym],
      [eveUpdate, 'UPDATE', 'Eve E.', 'Eve', pseudonym],
    ]);
  });

  it('is never written by a revert or an undo of the erased row’s versions, even forced', async () => {
    const { rows } = await db.pool.query<{ id: string; txid: string }>(
      `SELECT id::text, txid::text FROM auditrum.changes WHERE new_values->>'name' = 'Alice L.'`,
    );
    const [update] = rows as [{ id: string; txid: string }];
    const before = await snapshot();
    const unrestorable = [
      {
        table: 'public.people',
        rowKey: pseudonym,
        changeId: update.id,
        reason: 'erased-key',
        blocking: true,
        message: `public.people ${pseudonym}: change #${update.id}: its row's key was erased on request (auditrum erase): the log no longer says which row it was`,
      },
    ];
    const reverted = await revert(app, 'auditrum', update.id, { reason: 'r', force: true });
    expect(reverted).toMatchObject({ applied: true, changeIds: [], plan: { statements: [], conflicts: [] } });
    expect(reverted.plan.unrestorable).toEqual(unrestorable);
    const undone = await undo(app, 'auditrum', { txid: update.txid }, { reason: 'r', dryRun: true });
    expect(undone.plan.statements).toEqual([]);
    expect(undone.plan.unrestorable).toEqual(unrestorable);
    // A restore of the real row by key would read the two rows' versions as one: refused, naming why.
    const restored = await restoreRow(
      app,
      'auditrum',
      { table: 'public.people', key: pseudonym, at: new Date() },
      {
        reason: 'r',
        force: true,
      },
    ).catch((e: unknown) => e);
    expect(restored).toBeInstanceOf(RestoreError);
    expect(restored).toMatchObject({ kind: 'conflict' });
    expect((restored as Error).message).toContain(
      `row ${pseudonym} of public.people: an erasure gave another row of the table this key as its pseudonym`,
    );
    expect(await snapshot()).toBe(before);
    const { rows: live } = await app.query('SELECT email, name FROM people ORDER BY email');
    expect(live).toEqual([
      { email: 'alice@example.com', name: 'Alice L.' },
      { email: pseudonym, name: 'Eve E.' },
    ]);
  });

  it('alone is erased by its key; the erased row alone by its erasure; each verifies under its own erasure', async () => {
    const real = await erase(owner, 'auditrum', {
      subject: { table: 'public.people', key: pseudonym, columns: ['name'] },
      reason: 'GDPR request 2',
    });
    expect(real).toMatchObject({ changes: 2, apiRequests: 0, sealed: 2, unmatched: 0 });
    const cli = await runCli(
      ['erase', '--table', 'people', '--key-erasure', aliceErasure, '--columns', 'name', '--reason', 'GDPR request 3'],
      { env: { DATABASE_URL: adminRole.url }, cwd: process.cwd() },
    );
    expect([cli.code, cli.stderr]).toEqual([0, '']);
    const third = String(BigInt(real.erasureId as string) + 1n);
    expect(cli.stdout).toBe(`erased 2 change row(s) (2 sealed) and 0 API request(s): erasure ${third}\n`);
    expect(await versions()).toEqual([
      { key: pseudonym, email: '[erased]', name: '[erased]' },
      { key: pseudonym, email: null, name: '[erased]' },
      { key: pseudonym, email: pseudonym, name: '[erased]' },
      { key: pseudonym, email: null, name: '[erased]' },
    ]);
    const { rows: recorded } = await db.pool.query(
      `SELECT e.erasure_id::text AS erasure, c.new_values->>'email' AS email FROM auditrum.erased_changes e
       JOIN auditrum.changes c ON c.id = e.change_id ORDER BY e.erasure_id, e.change_id`,
    );
    expect(recorded).toEqual([
      { erasure: aliceErasure, email: '[erased]' },
      { erasure: aliceErasure, email: null },
      { erasure: real.erasureId, email: pseudonym },
      { erasure: real.erasureId, email: null },
      { erasure: third, email: '[erased]' },
      { erasure: third, email: null },
    ]);
    const { rows: subjects } = await db.pool.query('SELECT subject FROM auditrum.erasures ORDER BY id');
    expect(subjects).toEqual([
      { subject: { table: 'public.people', key: '[erased]', columns: ['email'] } },
      { subject: { table: 'public.people', key: pseudonym, columns: ['name'] } },
      { subject: { table: 'public.people', key: pseudonym, columns: ['name'] } },
    ]);
    const verified = await verify(owner, 'auditrum');
    expect(verified.problems).toEqual([]);
    expect(verified.erased.map((e) => e.erasureId)).toEqual([third, third, real.erasureId, real.erasureId]);
  });

  it('leaves the application role unable to erase', async () => {
    const error = await erase(app, 'auditrum', {
      subject: { table: 'public.people', keyErasure: aliceErasure, columns: ['name'] },
      reason: 'r',
    }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('42501');
  });
});

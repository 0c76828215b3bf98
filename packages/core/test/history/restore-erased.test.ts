import type { Auditrum } from '@auditrum/core';
import { createAuditrum, ERASED_VALUE, RestoreError } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantRestoreReader, rowsAsText } from './restore-support.js';

// An erasure replaces a person's values in the log with a marker: no restore may write that marker into the table.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let owner: Auditrum;
let audit: Auditrum;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantRestoreReader(db.pool, role.name);
  await app.query('CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL, city text)');
  owner = createAuditrum({ pool: db.pool, partitions: false });
  await owner.track('public.people');
  audit = createAuditrum({ pool: app, partitions: false });
});
afterAll(async () => {
  await audit.close();
  await owner.close();
});

async function lastChange(operation: string, rowKey: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `SELECT max(id)::text AS id FROM auditrum.change_log WHERE table_name = 'people' AND operation = $1 AND row_key = $2`,
    [operation, rowKey],
  );
  return rows[0]?.id ?? '';
}

/** Alice's row: inserted, her email and city changed, then her email erased from the log. */
async function aliceErased(id: number): Promise<{ insertedAt: string; update: string }> {
  await app.query(`INSERT INTO people VALUES ($1, 'alice@old.example', 'Graz')`, [id]);
  const { rows } = await db.pool.query<{ at: string }>(
    `SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM auditrum.change_log
     WHERE table_name = 'people' AND row_key = $1`,
    [String(id)],
  );
  await app.query(`UPDATE people SET email = 'alice@new.example', city = 'Linz' WHERE id = $1`, [id]);
  await owner.erase({ subject: { table: 'public.people', key: id, columns: ['email'] }, reason: 'GDPR request #4' });
  return { insertedAt: rows[0]?.at ?? '', update: await lastChange('UPDATE', String(id)) };
}

function refusedFor(error: unknown): unknown {
  expect(error).toBeInstanceOf(RestoreError);
  const refusal = error as RestoreError;
  return { kind: refusal.kind, erased: refusal.plan?.unrestorable.filter((item) => item.reason === 'erased') };
}

describe('restores of erased values', () => {
  it('a revert names the erased column and writes nothing', async () => {
    const { update } = await aliceErased(1);
    const before = await rowsAsText(app, 'people', 'id = 1');
    const error = await audit.revert(update, { reason: 'undo the move' }).catch((e: unknown) => e);
    expect(refusedFor(error)).toMatchObject({
      kind: 'unrestorable',
      erased: [{ column: 'email', reason: 'erased', blocking: true }],
    });
    expect(await rowsAsText(app, 'people', 'id = 1')).toEqual(before);
  });

  it('a restore to a time before the erased value changed writes nothing, and forced it leaves the value alone', async () => {
    const { insertedAt } = await aliceErased(2);
    const before = await rowsAsText(app, 'people', 'id = 2');
    const error = await audit
      .restore({ table: 'people', key: 2, at: insertedAt }, { reason: 'back' })
      .catch((e: unknown) => e);
    expect(refusedFor(error)).toMatchObject({ kind: 'unrestorable', erased: [{ column: 'email', reason: 'erased' }] });
    expect(await rowsAsText(app, 'people', 'id = 2')).toEqual(before);
    await audit.restore({ table: 'people', key: 2, at: insertedAt }, { reason: 'back', force: true });
    const { rows } = await app.query('SELECT email, city FROM people WHERE id = 2');
    expect(rows).toEqual([{ email: 'alice@new.example', city: 'Graz' }]);
  });

  it('an undelete of a row whose values were erased never inserts the marker', async () => {
    await aliceErased(3);
    await app.query('DELETE FROM people WHERE id = 3');
    await owner.erase({ subject: { table: 'public.people', key: 3, columns: ['email'] }, reason: 'GDPR request #4' });
    const error = await audit.undelete({ table: 'people', key: 3 }, { reason: 'deleted by mistake' }).catch((e) => e);
    expect(refusedFor(error)).toMatchObject({ kind: 'unrestorable', erased: [{ column: 'email', reason: 'erased' }] });
    const { rows } = await app.query('SELECT count(*)::int AS n FROM people WHERE id = 3 OR email = $1', [
      ERASED_VALUE,
    ]);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('a value that only looks like the marker, in a change no erasure touched, is put back as it is', async () => {
    await app.query(`INSERT INTO people VALUES (4, $1, 'Wien')`, [ERASED_VALUE]);
    await app.query(`UPDATE people SET email = 'real@example' WHERE id = 4`);
    await audit.revert(await lastChange('UPDATE', '4'), { reason: 'r' });
    const { rows } = await app.query('SELECT email FROM people WHERE id = 4');
    expect(rows).toEqual([{ email: ERASED_VALUE }]);
  });
});

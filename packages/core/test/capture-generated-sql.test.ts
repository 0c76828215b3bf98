import { createHash, randomBytes } from 'node:crypto';
import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The capture function is created from SQL text that holds the table's and its columns' names. A name must not end
// the function's body and add SQL to the statement: the DDL follower regenerates the function with the schema
// owner's rights when a table's owner renames it, so that SQL would run as the schema owner.
const db = useTestDatabase();
const role = useAppRole(db);
const victim = `v_${randomBytes(3).toString('hex')}`;
let app: pg.Pool;

async function newValues(table: string): Promise<unknown[]> {
  const { rows } = await db.pool.query<{ new_values: unknown }>(
    `SELECT new_values FROM auditrum.change_log WHERE table_name = $1 AND operation <> 'DDL' ORDER BY id`,
    [table],
  );
  return rows.map((r) => r.new_values);
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  await db.pool.query(`CREATE ROLE ${victim}`);
});
afterAll(async () => {
  await app.end();
  await db.pool.query(`DROP ROLE IF EXISTS ${victim}`);
});

describe('names in the generated capture function', () => {
  it('a table renamed to a name that closes the body runs none of it, and stays tracked', async () => {
    await app.query('CREATE TABLE plain (id int PRIMARY KEY, note text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.plain');
    const name = `\nBEGIN END$auditrum$;DROP ROLE ${victim};SELECT $auditrum$`;
    expect(Buffer.byteLength(name)).toBeLessThan(64);
    await app.query(`ALTER TABLE plain RENAME TO ${pg.escapeIdentifier(name)}`);
    const { rows } = await db.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [victim]);
    expect(rows).toHaveLength(1);
    await app.query(`INSERT INTO ${pg.escapeIdentifier(name)} VALUES (1, 'kept')`);
    await app.query(`UPDATE ${pg.escapeIdentifier(name)} SET note = 'changed' WHERE id = 1`);
    expect(await newValues(name)).toEqual([{ id: 1, note: 'kept' }, { note: 'changed' }]);
  });

  it('a column named like the body delimiter is recorded', async () => {
    await app.query('CREATE TABLE dollars (id int PRIMARY KEY, "$auditrum$" text, "$auditrum_$" text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.dollars');
    await app.query(`INSERT INTO dollars VALUES (1, 'a', 'b')`);
    await app.query(`UPDATE dollars SET "$auditrum$" = 'c' WHERE id = 1`);
    expect(await newValues('dollars')).toEqual([{ id: 1, $auditrum$: 'a', $auditrum_$: 'b' }, { $auditrum$: 'c' }]);
  });

  // An UPDATE of 17 rows or more (and one of fewer with a value over the size limit) pairs the transition tables' rows
  // by an ordinal column of the generator's, "auditrum ordinal": a table with a column of that name had every such
  // UPDATE refused ("common column name … appears more than once").
  it('a column named like the ordinal that pairs the rows of a large UPDATE is recorded', async () => {
    await app.query(`CREATE TABLE ordinals (id int PRIMARY KEY, "auditrum ordinal" text, "auditrum ordinal_" text)`);
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.ordinals', { maxValueBytes: 8 });
    await app.query(`INSERT INTO ordinals SELECT g, 'a', 'b' FROM generate_series(1, 20) g`);
    await app.query(`UPDATE ordinals SET "auditrum ordinal" = 'c' || id, id = id + 100`);
    await app.query(`UPDATE ordinals SET "auditrum ordinal_" = repeat('d', 9) WHERE id IN (101, 102)`);
    const { rows } = await db.pool.query(
      `SELECT row_key, old_values, new_values FROM auditrum.change_log
       WHERE table_name = 'ordinals' AND operation = 'UPDATE' ORDER BY id`,
    );
    const marker = {
      $auditrum: 'oversized',
      bytes: 9,
      sha256: createHash('sha256').update('d'.repeat(9)).digest('hex'),
    };
    expect(rows).toEqual([
      ...Array.from({ length: 20 }, (_, i) => ({
        row_key: String(i + 101),
        old_values: { id: i + 1, 'auditrum ordinal': 'a' },
        new_values: { id: i + 101, 'auditrum ordinal': `c${i + 1}` },
      })),
      ...[101, 102].map((key) => ({
        row_key: String(key),
        old_values: { 'auditrum ordinal_': 'b' },
        new_values: { '': { oversized: ['auditrum ordinal_'] }, 'auditrum ordinal_': marker },
      })),
    ]);
  });

  // The generator writes «v», «x», «actor»… where a row alias, a value or a variable goes, and replaces them in the
  // whole text: a name holding one was rewritten with them (new."new" read for column "«v»", a field
  // "auditrum_capture.actor" for "«actor»"), and the table's writes failed or recorded another column's value.
  it.each([
    ['every path', {}],
    ['a when condition and the size limit', { when: `coalesce(new."«x»", '«v»') LIKE '«%'`, maxValueBytes: 16 }],
  ] as const)('named like the generator placeholders are recorded as named (%s)', async (label, extra) => {
    const table = `«actor» «v» ${label.length}`;
    const quoted = pg.escapeIdentifier(table);
    const columns = ['«x»', '«actor»', '«request»', '«ctx»', '«ts»', '«xid»', '«ikey»', '«v».new'];
    const names = columns.map((c) => pg.escapeIdentifier(c));
    await app.query(`CREATE TABLE ${quoted} ("«v»" int PRIMARY KEY, new text, "«okey»" text,
      ${names.map((c) => `${c} text`).join(', ')})`);
    await createAuditrum({ pool: db.pool, partitions: false }).track(`public.${quoted}`, {
      mask: ['«okey»'],
      ...extra,
    });
    const set = names.map((c) => `${c} = ${c} || '+'`).join(', ');
    const as = (actor: string) => `/*auditrum:{"actor_id":"${actor}","request_id":"r-${actor}"}*/ `;
    await app.query(`${as('ins')}INSERT INTO ${quoted} ("«v»", new, ${names.join(', ')})
      SELECT g, 'n', ${columns.map((c) => pg.escapeLiteral(c)).join(', ')} FROM generate_series(1, 20) g`);
    await app.query(`${as('one')}UPDATE ${quoted} SET ${set}, "«okey»" = 'k' WHERE "«v»" = 1`);
    await app.query(`${as('few')}UPDATE ${quoted} SET ${set} WHERE "«v»" IN (2, 3)`);
    await app.query(`${as('all')}UPDATE ${quoted} SET ${set}, "«v»" = "«v»" + 100 WHERE "«v»" > 3`);
    await app.query(`${as('big')}UPDATE ${quoted} SET "«x»" = repeat('«x»', 10) WHERE "«v»" IN (1, 2)`);
    await app.query(`${as('del')}DELETE FROM ${quoted} WHERE "«v»" = 1`);

    const { rows } = await db.pool.query(
      `SELECT operation, row_key, old_values, new_values, actor_id FROM auditrum.change_log
       WHERE table_name = $1 ORDER BY id`,
      [table],
    );
    const initial = Object.fromEntries(columns.map((c) => [c, c]));
    const plus = Object.fromEntries(columns.map((c) => [c, `${c}+`]));
    const big = '«x»'.repeat(10);
    const bigValues =
      'maxValueBytes' in extra
        ? {
            '': { oversized: ['«x»'] },
            '«x»': {
              $auditrum: 'oversized',
              bytes: Buffer.byteLength(big),
              sha256: createHash('sha256').update(big).digest('hex'),
            },
          }
        : { '«x»': big };
    const hmac = expect.stringMatching(/^hmac:/);
    const change = (operation: string, key: number, oldValues: unknown, newValues: unknown, actor: string) => ({
      operation,
      row_key: String(key),
      old_values: oldValues,
      new_values: newValues,
      actor_id: actor,
    });
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expect(rows).toEqual([
      ...range(1, 20).map((k) => change('INSERT', k, null, { '«v»': k, new: 'n', '«okey»': null, ...initial }, 'ins')),
      change('UPDATE', 1, { ...initial, '«okey»': null }, { ...plus, '«okey»': hmac }, 'one'),
      ...[2, 3].map((k) => change('UPDATE', k, initial, plus, 'few')),
      ...range(4, 20).map((k) =>
        change('UPDATE', k + 100, { '«v»': k, ...initial }, { '«v»': k + 100, ...plus }, 'all'),
      ),
      ...[1, 2].map((k) => change('UPDATE', k, { '«x»': '«x»+' }, bigValues, 'big')),
      change('DELETE', 1, { '«v»': 1, new: 'n', '«okey»': hmac, ...plus, ...bigValues }, null, 'del'),
    ]);
  });
});

import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Foreign-key actions on a self-referencing table change rows of the tracked table itself, within the statement
// that started them. PostgreSQL gathers every row a statement and its cascades deleted into one firing of the DELETE
// trigger and every row they updated into one of the UPDATE trigger, and fires them in the order of the last change
// of each kind: a row updated by ON DELETE SET NULL and then deleted by ON DELETE CASCADE has its UPDATE recorded
// after its DELETE. Every change is recorded, once, with the statement's context; history reads the row as gone.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

const AS_ALICE = '/*auditrum:{"actor_id":"alice","request_id":"r-1"}*/ ';

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  await app.query(`CREATE TABLE nodes (id int PRIMARY KEY, parent int REFERENCES nodes ON DELETE CASCADE ON UPDATE CASCADE,
    sibling int REFERENCES nodes ON DELETE SET NULL, label text)`);
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.nodes');
  await app.query(`INSERT INTO nodes VALUES (1, NULL, NULL, 'root'), (2, 1, NULL, 'a'), (3, 2, 1, 'b'), (4, 3, 2, 'c'),
    (5, 1, 3, 'd'), (6, 1, NULL, 'e'), (7, 6, NULL, 'f'), (8, 7, NULL, 'g')`);
});
afterAll(() => app.end());

async function changesSince(id: number) {
  const { rows } = await db.pool.query(
    `SELECT id, operation, row_key, old_values, new_values, actor_id, request_id FROM auditrum.change_log
     WHERE table_name = 'nodes' AND id > $1 ORDER BY id`,
    [id],
  );
  return rows.map(({ id: _id, ...change }) => change);
}

async function lastId(): Promise<number> {
  const { rows } = await db.pool.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM auditrum.changes');
  return Number(rows[0]?.id);
}

describe('foreign-key actions on a self-referencing tracked table', () => {
  it('are recorded by kind of change, each once, under the statement that started them', async () => {
    const before = await lastId();
    await app.query(`${AS_ALICE}DELETE FROM nodes WHERE id = 2`);
    const alice = { actor_id: 'alice', request_id: 'r-1' };
    expect(await changesSince(before)).toEqual([
      {
        operation: 'DELETE',
        row_key: '2',
        old_values: { id: 2, parent: 1, sibling: null, label: 'a' },
        new_values: null,
        ...alice,
      },
      {
        operation: 'DELETE',
        row_key: '3',
        old_values: { id: 3, parent: 2, sibling: 1, label: 'b' },
        new_values: null,
        ...alice,
      },
      // Row 4 lost its sibling (2) before its parent (3) was deleted: its image is the updated row.
      {
        operation: 'DELETE',
        row_key: '4',
        old_values: { id: 4, parent: 3, sibling: null, label: 'c' },
        new_values: null,
        ...alice,
      },
      { operation: 'UPDATE', row_key: '4', old_values: { sibling: 2 }, new_values: { sibling: null }, ...alice },
      { operation: 'UPDATE', row_key: '5', old_values: { sibling: 3 }, new_values: { sibling: null }, ...alice },
    ]);
    const { rows } = await db.pool.query(
      `SELECT row_key, "exists" FROM auditrum.row_as_of('public.nodes', '4', now())
       UNION ALL SELECT row_key, "exists" FROM auditrum.row_as_of('public.nodes', '5', now())`,
    );
    expect(rows).toEqual([
      { row_key: '4', exists: false },
      { row_key: '5', exists: true },
    ]);
  });

  it('on update are recorded pair by pair, a key and the references to it, in one statement of a few rows', async () => {
    const before = await lastId();
    await app.query(`${AS_ALICE}UPDATE nodes SET id = id + 100 WHERE id IN (6, 7)`);
    const alice = { actor_id: 'alice', request_id: 'r-1' };
    expect(await changesSince(before)).toEqual([
      { operation: 'UPDATE', row_key: '106', old_values: { id: 6 }, new_values: { id: 106 }, ...alice },
      { operation: 'UPDATE', row_key: '107', old_values: { id: 7 }, new_values: { id: 107 }, ...alice },
      { operation: 'UPDATE', row_key: '107', old_values: { parent: 6 }, new_values: { parent: 106 }, ...alice },
      { operation: 'UPDATE', row_key: '8', old_values: { parent: 7 }, new_values: { parent: 107 }, ...alice },
    ]);
  });
});

import { randomBytes } from 'node:crypto';
import { ensurePartitions, migrate } from '@auditrum/core';
import { useEmptyDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateUpTo } from './migrate-up-to.js';

// The change log's index set (migration 29: the row and actor indexes, whose entries all differ by their id, without
// B-tree deduplication), on the partitioned table and on every partition, as a fresh install makes it and as an
// upgrade leaves it, both done by the application's own non-superuser role, which owns the schema.
const db = useEmptyDatabase();
const DEDUPLICATION_OFF = 29;
const roleName = `app_${randomBytes(5).toString('hex')}`;
const password = randomBytes(9).toString('hex');
let app: pg.Pool;

/** What every relation of the change log (the partitioned table and each partition) is indexed by. */
const INDEX_SET = [
  'btree (actor_id, id) WITH (deduplicate_items=off) WHERE (actor_id IS NOT NULL)',
  'btree (id, changed_at)',
  'btree (request_id) WHERE (request_id IS NOT NULL)',
  'btree (table_id, row_key, id) WITH (deduplicate_items=off)',
];

/** Each relation of `schema`'s change log, with its indexes' definitions after `USING`, sorted. */
async function indexSets(schema: string): Promise<Record<string, string[]>> {
  const { rows } = await app.query<{ relation: string; indexes: string[] }>(
    `SELECT c.relname AS relation, array_agg(d.definition ORDER BY d.definition COLLATE "C") AS indexes
     FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid
     CROSS JOIN LATERAL (SELECT regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '') AS definition) d
     WHERE c.oid = $1::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass)
     GROUP BY c.relname`,
    [`${schema}.changes`],
  );
  return Object.fromEntries(rows.map((row) => [row.relation, row.indexes]));
}

/** The expected sets: the same four indexes on each of `relations`. */
function everyOne(relations: string[]): Record<string, string[]> {
  return Object.fromEntries(relations.map((relation) => [relation, INDEX_SET]));
}

/** The names of the change log's indexes, partitions' included. */
async function indexNames(schema: string): Promise<string[]> {
  const { rows } = await app.query<{ name: string }>(
    `SELECT i.indexrelid::regclass::text AS name FROM pg_index i
     WHERE i.indrelid = $1::regclass OR i.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass)
     ORDER BY 1`,
    [`${schema}.changes`],
  );
  return rows.map((row) => row.name);
}

beforeAll(async () => {
  const role = pg.escapeIdentifier(roleName);
  await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  await db.pool.query(`GRANT CREATE ON DATABASE ${pg.escapeIdentifier(db.name)} TO ${role}`);
  const url = new URL(db.url);
  url.username = roleName;
  url.password = password;
  app = db.openPool({ connectionString: url.toString(), max: 2 });
});

afterAll(async () => {
  await app.end();
  const role = pg.escapeIdentifier(roleName);
  await db.pool.query(`REASSIGN OWNED BY ${role} TO postgres; DROP OWNED BY ${role}; DROP ROLE ${role}`);
});

describe('the change log index set', () => {
  it('is made by a fresh install, on every partition, and on the partitions made later', async () => {
    await migrate(app, { schema: 'fresh' });
    const partitions = Object.keys(await indexSets('fresh')).filter((name) => name !== 'changes');
    expect(partitions).toHaveLength(5);
    expect(await indexSets('fresh')).toEqual(everyOne(['changes', ...partitions]));
    const made = await ensurePartitions(app, 'fresh', 6);
    expect(made).toHaveLength(3);
    expect(await indexSets('fresh')).toEqual(everyOne(['changes', ...partitions, ...made]));
  });

  it('replaces the indexes of an existing log, under the names they had, and they answer as before', async () => {
    await migrateUpTo(app, DEDUPLICATION_OFF);
    await app.query(
      `INSERT INTO auditrum.changes (table_id, operation, row_key, actor_id, request_id)
       SELECT 1, 'UPDATE', (g % 7)::text, CASE WHEN g % 3 > 0 THEN 'u-' || g % 3 END, 'r-' || g % 5
       FROM generate_series(1, 300) g`,
    );
    const names = await indexNames('auditrum');
    const before = await indexSets('auditrum');
    expect(before.changes).toContain('btree (actor_id, id) WHERE (actor_id IS NOT NULL)');
    expect(before.changes).toContain('btree (table_id, row_key, id)');

    await migrate(app);
    expect(await indexSets('auditrum')).toEqual(everyOne(Object.keys(before)));
    expect(await indexNames('auditrum')).toEqual(names);
    const made = await ensurePartitions(app, 'auditrum', 6);
    expect(await indexSets('auditrum')).toEqual(everyOne([...Object.keys(before), ...made]));

    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_seqscan = off');
      await client.query('SET LOCAL enable_bitmapscan = off');
      const byActor = 'SELECT id FROM auditrum.changes WHERE actor_id = $1 ORDER BY id DESC LIMIT 3';
      const byRow = 'SELECT id FROM auditrum.changes WHERE table_id = 1 AND row_key = $1 ORDER BY id DESC LIMIT 3';
      const plan = async (query: string, value: string): Promise<string> => {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${query}`, [value]);
        return rows.map((row) => row['QUERY PLAN']).join('\n');
      };
      expect(await plan(byActor, 'u-2')).toMatch(/Index (Only )?Scan Backward using changes_\w+_actor_id_id_idx/);
      expect(await plan(byRow, '4')).toMatch(/Index (Only )?Scan Backward using changes_\w+_table_id_row_key_id_idx/);
      expect((await client.query(byActor, ['u-2'])).rows).toEqual([{ id: '299' }, { id: '296' }, { id: '293' }]);
      expect((await client.query(byRow, ['4'])).rows).toEqual([{ id: '298' }, { id: '291' }, { id: '284' }]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
});

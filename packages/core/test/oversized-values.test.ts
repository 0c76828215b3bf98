import { createHash } from 'node:crypto';
import { createAuditrum, DEFAULT_MAX_VALUE_BYTES } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

// Capture never refuses a write the table accepts: a value over the table's limit is stored as a marker with its
// size and SHA-256, and the values object lists such columns under the key "" (which no column can have).
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

const MIB = 1024 * 1024;

interface Change {
  operation: string;
  row_key: string;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
}

async function changesOf(table: string): Promise<Change[]> {
  const { rows } = await db.pool.query<Change>(
    `SELECT operation, row_key, old_values, new_values FROM auditrum.change_log WHERE table_name = $1 ORDER BY id`,
    [table],
  );
  return rows;
}

/** The SHA-256 of `count` bytes that repeat `byte`, hashed a mebibyte at a time. */
function sha256OfRepeated(byte: number, count: number): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(MIB, byte);
  for (let left = count; left > 0; left -= MIB) hash.update(left >= MIB ? chunk : chunk.subarray(0, left));
  return hash.digest('hex');
}

function marker(bytes: number, sha256: string): Record<string, unknown> {
  return { $auditrum: 'oversized', bytes, sha256 };
}

beforeAll(() => {
  app = role.openPool({ max: 1 });
});
afterAll(() => app.end());

describe('values over the size limit', () => {
  const TEXT = 150 * MIB;
  const BYTEA = 75 * MIB;
  const textHash = sha256OfRepeated('y'.charCodeAt(0), TEXT);
  const byteaHash = sha256OfRepeated(0xab, BYTEA);

  it('lets a row with 150 MB of text and 75 MB of bytea be written, as markers with their length and hash', async () => {
    await app.query('CREATE TABLE files (id int PRIMARY KEY, name text, body text, data bytea)');
    // The table itself accepts the row (untracked).
    await app.query(
      `INSERT INTO files VALUES (0, 'untracked', repeat('y', ${TEXT}), decode(repeat('ab', ${BYTEA}), 'hex'))`,
    );
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.files');
    await app.query(`INSERT INTO files VALUES (1, 'big', repeat('y', ${TEXT}), decode(repeat('ab', ${BYTEA}), 'hex'))`);
    await app.query(`UPDATE files SET body = 'small now', name = 'big 2' WHERE id = 1`);
    await app.query('DELETE FROM files WHERE id = 1');
    expect(await changesOf('files')).toEqual([
      {
        operation: 'INSERT',
        row_key: '1',
        old_values: null,
        new_values: {
          '': { oversized: ['body', 'data'] },
          id: 1,
          name: 'big',
          body: marker(TEXT, textHash),
          data: marker(BYTEA, byteaHash),
        },
      },
      {
        operation: 'UPDATE',
        row_key: '1',
        old_values: { '': { oversized: ['body'] }, name: 'big', body: marker(TEXT, textHash) },
        new_values: { name: 'big 2', body: 'small now' },
      },
      {
        operation: 'DELETE',
        row_key: '1',
        old_values: {
          '': { oversized: ['data'] },
          id: 1,
          name: 'big 2',
          body: 'small now',
          data: marker(BYTEA, byteaHash),
        },
        new_values: null,
      },
    ]);
    // changed_columns (the view) leaves out the key "".
    const { rows } = await db.pool.query(
      `SELECT changed_columns FROM auditrum.change_log WHERE table_name = 'files' AND operation = 'UPDATE'`,
    );
    expect(rows[0]?.changed_columns).toEqual(['body', 'name']);
  });

  it('keeps a value of exactly the limit whole and marks one byte more, in one multi-row statement', async () => {
    await app.query('CREATE TABLE notes (id int PRIMARY KEY, body text, tags text[], doc jsonb, code varchar(10))');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.notes', { maxValueBytes: 100 });
    await app.query(
      `INSERT INTO notes VALUES (1, repeat('é', 50), NULL, NULL, 'ok'), (2, repeat('a', 101), NULL, NULL, 'ok'),
         (3, 'short', ARRAY[repeat('t', 200)], '{"$auditrum": "oversized", "bytes": 1, "sha256": "x"}', NULL)`,
    );
    const changes = await changesOf('notes');
    expect(changes.map((c) => [c.row_key, c.new_values])).toEqual([
      ['1', { id: 1, body: 'é'.repeat(50), tags: null, doc: null, code: 'ok' }], // 100 bytes: kept
      [
        '2',
        {
          '': { oversized: ['body'] },
          id: 2,
          body: marker(101, createHash('sha256').update('a'.repeat(101)).digest('hex')),
          tags: null,
          doc: null,
          code: 'ok',
        },
      ],
      [
        '3',
        {
          // An array is measured by its stored size; a jsonb value shaped like a marker stays a value (unlisted).
          '': { oversized: ['tags'] },
          id: 3,
          body: 'short',
          tags: marker(
            Number((await db.pool.query(`SELECT pg_column_size(ARRAY[repeat('t', 200)]) AS n`)).rows[0]?.n),
            createHash('sha256')
              .update(`{${'t'.repeat(200)}}`)
              .digest('hex'),
          ),
          doc: { $auditrum: 'oversized', bytes: 1, sha256: 'x' },
          code: null,
        },
      ],
    ]);
  });

  it('applies the default limit of 1 MiB, and a per-table limit from the rules, reported by status', async () => {
    expect(DEFAULT_MAX_VALUE_BYTES).toBe(MIB);
    await app.query('CREATE TABLE pages (id int PRIMARY KEY, body text)');
    const audit = createAuditrum({ pool: db.pool, partitions: false });
    await audit.track('public.pages');
    await app.query(`INSERT INTO pages VALUES (1, repeat('p', ${MIB})), (2, repeat('p', ${MIB + 1}))`);
    const [kept, marked] = await changesOf('pages');
    expect(kept?.new_values?.body).toHaveLength(MIB);
    expect(marked?.new_values?.body).toEqual(marker(MIB + 1, sha256OfRepeated('p'.charCodeAt(0), MIB + 1)));
    expect((await audit.status()).tables.find((t) => t.table === 'public.pages')?.rules).toEqual({ key: ['id'] });

    expect((await audit.track('public.pages', { maxValueBytes: 2 * MIB })).action).toBe('updated');
    await app.query(`UPDATE pages SET body = body || 'q' WHERE id = 2`);
    expect((await changesOf('pages')).at(-1)?.new_values?.body).toHaveLength(MIB + 2);
    expect((await audit.status()).tables.find((t) => t.table === 'public.pages')?.rules).toEqual({
      key: ['id'],
      maxValueBytes: 2 * MIB,
    });
  });

  it('refuses bad limits with a clear error, from TypeScript, SQL and the CLI', async () => {
    await app.query('CREATE TABLE limits (id int PRIMARY KEY, body text)');
    const audit = createAuditrum({ pool: db.pool, partitions: false });
    for (const bad of [0, -1, 1.5, 134_217_728, Number.NaN, '100' as unknown as number]) {
      await expect(audit.track('public.limits', { maxValueBytes: bad })).rejects.toThrow(
        'auditrum: rule "maxValueBytes" for table public.limits must be a whole number of bytes from 1 to 134217727',
      );
    }
    for (const bad of ['0', '"100"', '1.5', '134217728', '[1]']) {
      await expect(
        db.pool.query(`SELECT auditrum.track('public.limits', '{"max_value_bytes": ${bad}}')`),
      ).rejects.toThrow(
        `auditrum: rule "max_value_bytes" for table public.limits must be a whole number of bytes from 1 to 134217727, not ${bad}`,
      );
    }
    const outcome = await runCli(['track', 'public.limits', '--max-value-bytes', '1e3'], {
      env: { DATABASE_URL: db.url },
      cwd: process.cwd(),
    });
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(
      "option '--max-value-bytes <bytes>' argument '1e3' is invalid. expected a whole number of bytes from 1 to 134217727.",
    );
    const { rowCount } = await db.pool.query(`SELECT 1 FROM auditrum.tracked_tables WHERE table_name = 'limits'`);
    expect(rowCount).toBe(0);
  });
});

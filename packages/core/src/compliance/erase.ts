import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { inTransaction, SAFE_SEARCH_PATH_LOCAL } from '../db/queryable.js';
import type { RowKeyInput } from '../history/history-types.js';
import { rowKeyJson } from '../history/row-key-input.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { ComplianceInputError } from './compliance-input-error.js';

/** Whose values to erase: what one actor did (and their API calls), or some columns of one row of a tracked table. */
export type EraseSubject =
  | { actorId: string }
  | {
      /** The tracked table, `schema.table` (or a name the search path finds). */
      table: string;
      key: RowKeyInput;
      /** The columns whose values are erased in every version of the row. */
      columns: readonly string[];
    }
  | {
      table: string;
      /**
       * The row whose key this erasure erased (its versions' key reads `erased:<id>`): a `key` of that text names a
       * real row of that key, never it.
       */
      keyErasure: string;
      columns: readonly string[];
    };

export interface EraseOptions {
  subject: EraseSubject;
  /** Why: the request this answers (a ticket). Required; kept in `erasures`. */
  reason: string;
  /** Who asked for it (a person, the admin user); the database role is recorded as well. */
  requestedBy?: string | undefined;
  /** Do it all in a transaction that is rolled back: the counts are exact, nothing changes. */
  dryRun?: boolean;
}

export interface EraseResult {
  /** The erasure's id in `erasures` (null after a dry run: nothing was recorded). */
  erasureId: string | null;
  /** Change rows whose values were erased. */
  changes: number;
  /** API-log rows masked (an erasure by actor). */
  apiRequests: number;
  /** Of the change rows, those already sealed: verify reports them erased. */
  sealed: number;
  /**
   * Of the sealed rows, those that no longer matched their link before the erasure (changed by someone since they
   * were sealed): erased all the same, and still reported changed by verify.
   */
  unmatched: number;
  applied: boolean;
}

// What erase() in SQL raises for a subject, a reason or a column it cannot take: a ComplianceInputError.
const INPUT_ERRORS = new Set(['22023', 'P0002', '42703']);
// An erasure's id as keyErasure gives it (erase() in SQL checks it is within bigint).
const ERASURE_ID = /^[1-9]\d{0,18}$/;
// What to_regclass() raises for a table name it cannot even parse.
const UNREADABLE_NAME = new Set(['42601', '42602', '0A000']);

/**
 * Erases one person's values from history (GDPR art. 17) in one transaction (`erase()` in SQL): by actor, the
 * actor id becomes a pseudonym per erasure (`erased:<id>`) and the context fields that say who and from where, and
 * the actor's API-log bodies, a marker; by row, the given columns of every version of the row. Recorded in
 * `erasures` and `erased_changes`; the chain still verifies, those rows reported as erased. Run it as the schema's
 * owner (after `harden`, the admin role): the application role may not.
 */
export async function erase(db: Queryable, schema: string, options: EraseOptions): Promise<EraseResult> {
  if (typeof options.reason !== 'string' || options.reason.trim() === '') {
    throw new ComplianceInputError('give the reason for the erasure (the request it answers)');
  }
  if (options.requestedBy !== undefined && typeof options.requestedBy !== 'string') {
    throw new ComplianceInputError('requestedBy must be a string (who asked for the erasure)');
  }
  const s = quoteIdentifier(schema);
  const dryRun = options.dryRun === true;
  const named = subjectJson(options.subject);
  const relid = await tableOid(db, named);
  try {
    const row = await inTransaction(
      db,
      async (client) => {
        // erase() reads the chain after taking the seal lock, so it needs READ COMMITTED whatever the default.
        await client.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        // Run as the schema's owner: the rest with the safe search path (SAFE_SEARCH_PATH_LOCAL).
        await client.query(SAFE_SEARCH_PATH_LOCAL);
        const subject = await qualifiedTable(client, named, relid);
        const { rows } = await client.query<{
          erasure_id: string;
          changes: string;
          api_requests: string;
          sealed: string;
          unmatched: string;
        }>(
          `SELECT erasure_id::text, changes::text, api_requests::text, sealed::text, unmatched::text
           FROM ${s}.erase($1::jsonb, $2, $3)`,
          [JSON.stringify(subject), options.reason, options.requestedBy ?? null],
        );
        return rows[0];
      },
      { rollback: dryRun },
    );
    if (row === undefined) throw new Error('auditrum: erase() returned nothing');
    return {
      erasureId: dryRun ? null : row.erasure_id,
      changes: Number(row.changes),
      apiRequests: Number(row.api_requests),
      sealed: Number(row.sealed),
      unmatched: Number(row.unmatched),
      applied: !dryRun,
    };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && INPUT_ERRORS.has(code)) {
      throw new ComplianceInputError((error as Error).message, { cause: error });
    }
    throw error;
  }
}

/**
 * The subject's table as the session's search path finds it (null when it finds none): to_regclass() alone runs
 * under that path, a built-in of exact argument type that nothing in another schema can match better.
 */
async function tableOid(db: Queryable, subject: Record<string, unknown>): Promise<string | null> {
  if (typeof subject.table !== 'string') return null;
  const { rows } = await db
    .query<{ relid: string | null }>('SELECT to_regclass($1)::oid::text AS relid', [subject.table])
    .catch((error: unknown) => {
      // A name that is not even a name ("a.b.c.d", "db.s.t", quotes left open): the SQL side says it is not tracked.
      if (UNREADABLE_NAME.has((error as { code?: unknown }).code as string)) return { rows: [{ relid: null }] };
      throw error;
    });
  return rows[0]?.relid ?? null;
}

/** The subject with its table named `schema.table` (erase() in SQL runs with a search path of its own). */
async function qualifiedTable(
  client: pg.ClientBase,
  subject: Record<string, unknown>,
  relid: string | null,
): Promise<Record<string, unknown>> {
  if (relid === null) return subject;
  const { rows } = await client.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = $1::oid`,
    [relid],
  );
  return { ...subject, table: rows[0]?.name ?? subject.table };
}

/** The subject as erase() in SQL takes it; a subject of neither shape is a ComplianceInputError. */
function subjectJson(subject: EraseSubject): Record<string, unknown> {
  const shape = 'the subject of an erasure is { actorId }, { table, key, columns } or { table, keyErasure, columns }';
  if (typeof subject !== 'object' || subject === null) throw new ComplianceInputError(shape);
  if ('actorId' in subject) {
    if (typeof subject.actorId !== 'string' || subject.actorId === '' || Object.keys(subject).length !== 1) {
      throw new ComplianceInputError(`${shape}: actorId must be a non-empty string, alone`);
    }
    return { actor_id: subject.actorId };
  }
  if ('table' in subject && 'columns' in subject && Object.keys(subject).length === 3) {
    if (typeof subject.table !== 'string' || subject.table === '') {
      throw new ComplianceInputError(`${shape}: table must be a table name`);
    }
    const { columns } = subject;
    if (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === 'string' && c !== '')) {
      throw new ComplianceInputError(`${shape}: columns must be a list of column names`);
    }
    if ('keyErasure' in subject) {
      if (typeof subject.keyErasure !== 'string' || !ERASURE_ID.test(subject.keyErasure)) {
        throw new ComplianceInputError(`${shape}: keyErasure must be an erasure's id (digits)`);
      }
      return { table: subject.table, key_erasure: subject.keyErasure, columns };
    }
    if ('key' in subject) {
      let key: unknown;
      try {
        key = JSON.parse(rowKeyJson(subject.key));
      } catch (error) {
        throw new ComplianceInputError((error as Error).message, { cause: error });
      }
      return { table: subject.table, key, columns };
    }
  }
  throw new ComplianceInputError(shape);
}

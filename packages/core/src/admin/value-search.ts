import type { ChangeRow } from '../changes/change-row.js';
import { CHANGE_COLUMNS } from '../changes/change-row.js';
import type { ApiContext } from './api-context.js';
import type { ChangeCriteria } from './change-filters.js';
import { changeConditions, searchConditions } from './change-filters.js';
import { SqlParams, whereClause } from './sql-builder.js';

/**
 * How the search in changed values (q) reads the log when there is no trigram index: in batches of the other
 * filters' rows, newest first, `batch` rows per query (fewer when the page's budget is smaller). A page stops after
 * `first` rows (the first page: it must answer as fast as any other list) or `budget` rows (a page asked for with a
 * cursor: "search older"), and answers with what it found, possibly nothing, the time it searched back to and a
 * cursor to go on from there.
 */
export interface SearchLimits {
  batch: number;
  first: number;
  budget: number;
}

// A batch of 5,000 rows took 10 ms on a quiet machine, 30–55 ms at a load of 9 to 13 (docs/benchmarks.md): the
// first page reads half of one.
export const SEARCH_LIMITS: SearchLimits = { batch: 5000, first: 2500, budget: 100_000 };

/** Whether enable_value_search() made the trigram index: then the search is one query that the index serves. */
export async function hasValueSearchIndex(api: ApiContext): Promise<boolean> {
  const { rows } = await api.pool.query<{ found: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS found`, [
    `${api.schemaSql}.changes_values_trgm_idx`,
  ]);
  return rows[0]?.found === true;
}

export interface SearchStep {
  /** The batch's rows that contain the text, newest first, at most `need`. */
  matches: ChangeRow[];
  /** The smallest id the batch read (the next batch starts below it); null when it read nothing. */
  lastId: string | null;
  /** When the change with that id was made (ISO 8601, UTC, microseconds); null when the batch read nothing. */
  lastAt: string | null;
  /** How many rows the batch read; fewer than the batch size at the end of the log. */
  size: number;
}

/**
 * One batch of the search: the next rows (below `before`) that match every other filter, and those of them that
 * contain the text. The batch is a subquery with its own LIMIT, so the text condition stays outside it: PostgreSQL
 * cannot estimate how many rows contain a word, and, given the whole condition, may choose to read and sort the
 * whole log even for a word that is in every other row. This way each query reads at most `batch` rows.
 */
export async function searchStep(
  api: ApiContext,
  criteria: ChangeCriteria,
  before: string | undefined,
  need: number,
  batch: number,
): Promise<SearchStep> {
  const sql = new SqlParams();
  const inner = changeConditions(criteria, sql);
  if (before !== undefined) inner.push(`c.id < ${sql.add(before)}::bigint`);
  const search = searchConditions(criteria.q ?? '', sql);
  const { rows } = await api.pool.query<
    ChangeRow & { batch_last: string | null; batch_last_at: string | null; batch_size: number }
  >(
    `WITH batch AS MATERIALIZED (
       SELECT c.* FROM ${api.schemaSql}.changes c WHERE ${whereClause(inner)} ORDER BY c.id DESC LIMIT ${sql.add(batch)}
     ),
     last AS (SELECT b.id, b.changed_at FROM batch b ORDER BY b.id LIMIT 1)
     SELECT (SELECT id::text FROM last) AS batch_last,
       (SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM last) AS batch_last_at,
       (SELECT count(*)::int FROM batch) AS batch_size, m.*
     FROM (SELECT 1) AS one
     LEFT JOIN LATERAL (
       SELECT ${CHANGE_COLUMNS} FROM batch c WHERE ${whereClause(search)} ORDER BY c.id DESC LIMIT ${sql.add(need)}
     ) m ON true`,
    sql.values,
  );
  const first = rows[0];
  return {
    matches: rows.filter((row) => row.id !== null),
    lastId: first?.batch_last ?? null,
    lastAt: first?.batch_last_at ?? null,
    size: first?.batch_size ?? 0,
  };
}

/** A page of search results, and where the search stopped when it stopped before the page was full. */
export interface SearchPage {
  rows: ChangeRow[];
  /** The id to go on below (the next page's cursor); null when the log was read to its end. */
  resumeAfter: string | null;
  /** The time of the oldest change read, when the budget ran out before `limit` matches were found; else null. */
  searchedTo: string | null;
}

/**
 * A page of search results: `limit` matches, or fewer (none, even) when the page's budget of rows ran out first:
 * then `resumeAfter` and `searchedTo` say where it stopped. The first page (no `before`) reads `limits.first` rows
 * at most, a later one `limits.budget`.
 */
export async function searchPage(
  api: ApiContext,
  criteria: ChangeCriteria,
  limit: number,
  before: string | undefined,
  limits: SearchLimits = SEARCH_LIMITS,
): Promise<SearchPage> {
  const budget = before === undefined ? limits.first : limits.budget;
  const batch = Math.min(limits.batch, budget);
  const found: ChangeRow[] = [];
  let next = before;
  let read = 0;
  for (;;) {
    const step = await searchStep(api, criteria, next, limit + 1 - found.length, batch);
    found.push(...step.matches);
    if (found.length > limit) {
      return { rows: found.slice(0, limit), resumeAfter: found[limit - 1]?.id ?? null, searchedTo: null };
    }
    if (step.size < batch || step.lastId === null) return { rows: found, resumeAfter: null, searchedTo: null };
    read += step.size;
    next = step.lastId;
    if (read >= budget) return { rows: found, resumeAfter: next, searchedTo: step.lastAt };
  }
}

/** Every match, newest first, batch by batch (the export: no budget). */
export async function* searchAll(
  api: ApiContext,
  criteria: ChangeCriteria,
  batch: number = SEARCH_LIMITS.batch,
): AsyncGenerator<ChangeRow> {
  let next: string | undefined;
  for (;;) {
    const step = await searchStep(api, criteria, next, batch, batch);
    yield* step.matches;
    if (step.size < batch || step.lastId === null) return;
    next = step.lastId;
  }
}

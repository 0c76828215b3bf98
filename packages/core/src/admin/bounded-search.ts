import type { ChangeRow } from '../changes/change-row.js';
import { changeColumns } from '../changes/change-row.js';
import type { ApiContext } from './api-context.js';
import type { ChangeOperation } from './api-types.js';
import type { ChangeCriteria, TestedFilter } from './change-filters.js';
import { changeConditions, testedConditions, withoutTested } from './change-filters.js';
import { walksThePrimaryKey } from './month-walk.js';
import { actorIndexRange, SqlParams, whereClause } from './sql-builder.js';

/**
 * How a list filtered by what no index serves (a search in changed values, a changed column, a source) reads the
 * log: in batches of the other filters' rows, newest first, `batch` rows per query (fewer when the page's budget is
 * smaller), each row tested for those filters. A page stops after `first` rows (the first page: it must answer as
 * fast as any other list) or `budget` rows (a page asked for with a cursor: "search older"), and answers with what it
 * found, possibly nothing, the time it searched back to and a cursor to go on from there.
 */
export interface SearchLimits {
  batch: number;
  first: number;
  budget: number;
}

// A batch of 5,000 rows took 10 ms on a quiet machine, 30–55 ms at a load of 9 to 13 (docs/benchmarks.md): the
// first page reads half of one, a later page four (100,000 took 190–265 ms of server CPU at 10,000,000 changes,
// session 12: every page answers within the admin's 50 ms, and the next one goes on from where it stopped).
export const SEARCH_LIMITS: SearchLimits = { batch: 5000, first: 2500, budget: 20_000 };

// A column or a source is a test of one key, far cheaper than the search's look into every value: at 10,000,000
// changes 20,000 rows took about 8 ms walking the primary key, but 60 ms through the busiest actor's index (a
// table's row each): the first page reads 10,000 (docs/benchmarks.md, session 10), a later one 50,000 (100,000 took
// 42–90 ms of server CPU at a load of 4, session 12).
export const FILTER_LIMITS: SearchLimits = { batch: 10_000, first: 10_000, budget: 50_000 };

/** The optional index that serves each tested filter, when there is one (docs/admin.md). */
const OPTIONAL_INDEXES: Partial<Record<TestedFilter, string>> = {
  q: 'changes_values_trgm_idx',
  source: 'changes_source_idx',
};
const TESTED: readonly TestedFilter[] = ['q', 'column', 'source'];
/**
 * The operations tested rather than read for, with the other tested filters or alone when the page walks the primary
 * key: a batch's walk of every month must find a first row of the operation in each (DELETEs that the older months
 * did not have: 2.2 s for `operation=DELETE&column=status` at 10,000,000 changes, 5 ms tested), and the walk a month
 * at a time reads every newer month whole before an operation only older months have (`operation=INSERT&table=orders`,
 * every orders row inserted in the log's first month: 0.86 s of server CPU, 6 ms tested; docs/benchmarks.md, session 11). TRUNCATE and DDL are
 * found through the row index.
 */
const TESTED_OPERATIONS: readonly ChangeOperation[] = ['INSERT', 'UPDATE', 'DELETE'];

/**
 * The optional indexes a filter is not read through when the criteria name an actor: the actor's index narrows first,
 * and the filter is tested on the actor's changes. Read through the source index, a source the actor's changes lack
 * visited every change of that source for the actor's (the busiest actor and source=db at 10,000,000 changes: 63 ms of
 * server CPU, 6 ms tested; docs/benchmarks.md, session 11).
 */
const NOT_WITH_AN_ACTOR: readonly TestedFilter[] = ['source'];

/**
 * The tested filters the criteria give that no index serves (the optional indexes looked up by name, one query when
 * q or source is given), and the operation (TESTED_OPERATIONS): a page reads in bounded batches when there is any.
 */
export async function unindexedFilters(api: ApiContext, criteria: ChangeCriteria): Promise<TestedFilter[]> {
  const given = TESTED.filter((filter) => criteria[filter] !== undefined);
  const indexable = given.filter(
    (filter) =>
      OPTIONAL_INDEXES[filter] !== undefined && !(criteria.actors.length > 0 && NOT_WITH_AN_ACTOR.includes(filter)),
  );
  let unindexed = given;
  if (indexable.length > 0) {
    const { rows } = await api.pool.query<{ found: boolean[] }>(
      `SELECT array_agg(to_regclass(name) IS NOT NULL ORDER BY n) AS found FROM unnest($1::text[]) WITH ORDINALITY AS i(name, n)`,
      [indexable.map((filter) => `${api.schemaSql}.${OPTIONAL_INDEXES[filter]}`)],
    );
    const indexed = new Set(indexable.filter((_, i) => rows[0]?.found[i] === true));
    unindexed = given.filter((filter) => !indexed.has(filter));
  }
  const operation = criteria.operation !== undefined && TESTED_OPERATIONS.includes(criteria.operation);
  return operation && (unindexed.length > 0 || walksThePrimaryKey(criteria)) ? [...unindexed, 'operation'] : unindexed;
}

/**
 * The limits of a bounded search: the search in values' when it is one of the tested filters. Through an actor's
 * index (a heap page a row), a later page reads no more than the first: 100,000 of the busiest actor's changes took
 * 0.13 s of server CPU (docs/benchmarks.md, session 11).
 */
export function searchLimits(tested: readonly TestedFilter[], criteria: ChangeCriteria): SearchLimits {
  const limits = tested.includes('q') ? SEARCH_LIMITS : FILTER_LIMITS;
  return criteria.actors.length > 0 ? { ...limits, budget: limits.first } : limits;
}

export interface SearchStep {
  /** The batch's rows that pass the tested filters, newest first, at most `need`. */
  matches: ChangeRow[];
  /**
   * When the batch was read whole (`batch` rows) without `need` matches: its smallest id (the next batch starts below
   * it) and when that change was made (ISO 8601, UTC, microseconds); null when the log ended first, or when the
   * batch's `need` matches were found before its end.
   */
  last: { id: string; at: string } | null;
}

/**
 * One batch: the next `batch` rows (below `before`) that match the other filters, and those of them that pass the
 * tested ones. The batch is a subquery with its own LIMIT, so the tested conditions stay outside it: PostgreSQL cannot
 * estimate how many rows contain a word or a column, and, given the whole condition, may choose to read and sort the
 * whole log even for a word that is in every other row. This way each query reads at most `batch` rows, one by one
 * as the walk finds them (nothing is held), and stops at the `need`-th match; the batch's last row comes out too,
 * numbered, to say where the next batch starts.
 */
export async function searchStep(
  api: ApiContext,
  criteria: ChangeCriteria,
  tested: readonly TestedFilter[],
  before: string | undefined,
  need: number,
  batch: number,
): Promise<SearchStep> {
  const sql = new SqlParams();
  const rest = withoutTested(criteria, tested);
  // An indexed search in values stays with the batch's filters.
  const inner = [...changeConditions(rest, sql, api.schemaSql), ...testedConditions(rest, ['q'], sql)];
  if (before !== undefined) inner.push(`c.id < ${sql.add(before)}::bigint`);
  const [actor] = rest.actors;
  if (actor !== undefined) inner.push(actorIndexRange('c', actor, sql));
  const test = whereClause(testedConditions(criteria, tested, sql));
  const size = sql.add(batch);
  const { rows } = await api.pool.query<ChangeRow & { matched: boolean; n: string; at: string }>(
    `SELECT ${changeColumns(api.schemaSql)}, (${test}) AS matched, c.n,
       to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
     FROM (SELECT c.*, row_number() OVER (ORDER BY c.id DESC) AS n FROM ${api.schemaSql}.changes c
           WHERE ${whereClause(inner)} ORDER BY c.id DESC LIMIT ${size}) c
     WHERE (${test}) OR c.n = ${size}
     ORDER BY c.id DESC LIMIT ${sql.add(need)}`,
    sql.values,
  );
  const end = rows.find((row) => Number(row.n) === batch);
  return {
    matches: rows.filter((row) => row.matched).map(({ matched: _, n: __, at: ___, ...row }) => row),
    last: end === undefined ? null : { id: end.id, at: end.at },
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
  tested: readonly TestedFilter[],
  limit: number,
  before: string | undefined,
  limits: SearchLimits = searchLimits(tested, criteria),
): Promise<SearchPage> {
  const budget = before === undefined ? limits.first : limits.budget;
  const batch = Math.min(limits.batch, budget);
  const found: ChangeRow[] = [];
  let next = before;
  let read = 0;
  for (;;) {
    const step = await searchStep(api, criteria, tested, next, limit + 1 - found.length, batch);
    found.push(...step.matches);
    if (found.length > limit) {
      return { rows: found.slice(0, limit), resumeAfter: found[limit - 1]?.id ?? null, searchedTo: null };
    }
    if (step.last === null) return { rows: found, resumeAfter: null, searchedTo: null };
    read += batch;
    next = step.last.id;
    if (read >= budget) return { rows: found, resumeAfter: next, searchedTo: step.last.at };
  }
}

/**
 * Where the matches go on after a step that asked for `need` of them: below its last match when it found them all,
 * else below the last row it read; undefined when the log ended.
 */
export function nextBelow(step: SearchStep, need: number): string | undefined {
  return step.matches.length === need ? step.matches.at(-1)?.id : step.last?.id;
}

/**
 * Every match below `before`, newest first, at most `need` at a time (the export of a search in values: no budget),
 * `batch` rows read per step; a step's rows stream through its query, only its matches are held.
 */
export async function* searchSteps(
  api: ApiContext,
  criteria: ChangeCriteria,
  tested: readonly TestedFilter[],
  need: number,
  batch: number,
  before: string | undefined,
): AsyncGenerator<ChangeRow[]> {
  for (let next = before; next !== undefined; ) {
    const step = await searchStep(api, criteria, tested, next, need, batch);
    if (step.matches.length > 0) yield step.matches;
    next = nextBelow(step, need);
  }
}

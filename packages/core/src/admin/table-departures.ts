import type pg from 'pg';
import { keptAnchorHolds } from '../changes/kept-anchor.js';
import { epochMicros } from './query-params.js';
import { TableSummaries } from './table-summaries.js';

/**
 * At most this many departures kept per table (about 95 bytes of memory each with a short key: 9.5 MB): a table with
 * more in the months without a departures index is read from the log, as without a summary (docs/admin.md).
 */
const DEFAULT_MAX_DEPARTURES = 100_000;
/**
 * PostgreSQL's errors for a kept summary the admin goes without (its own then): a role that may not read it, a schema
 * not migrated to version 38 yet.
 */
const WITHOUT_KEPT_SUMMARY = new Set(['42501', '42P01']);

/** A summary as table_as_of_page takes it (`departures`, the type table_departures of migration 28). */
export interface DeparturesArgument {
  since: string;
  /** `since` in microseconds since 1970 (±Infinity for ±infinity). */
  sinceMicros: number;
  upTo: string;
  state: string;
  goneKeys: string[];
  /**
   * The same keys as a PostgreSQL array literal, sent instead when it is given: kept by the summary as it grows, where
   * pg's serialization of 60,000 keys cost 6–20 ms of the admin's CPU at every page. Null when the keys were filtered.
   */
  goneKeysLiteral: string | null;
  /** Null when the page's time is before every departure (departuresAsOf): the page takes them all, unfiltered. */
  goneTimes: string[] | null;
  /** The same times as numbers, for departuresAsOf (not sent). */
  goneMicros: number[];
  /** The key changes as JSON texts {id, changed_at, old_key}, in id order. */
  moves: string[];
}

/**
 * The summary ensure_partitions() keeps of `table`'s departures, for a page as of `at`: the page reads it (from `since`,
 * under `state`, as the admin found it holding), the DELETEs from `at` on only when `at` is from `since` on, as
 * departuresAsOf hands over the mount's own.
 */
export interface KeptDepartures {
  kept: { table: string; at: string; since: string; state: string };
}

/** The tracking of the table `relid` (a parameter) that is current, else its latest: whose id its summaries name. */
function trackedTableId(schemaSql: string, relid: string): string {
  return `(SELECT t.id FROM ${schemaSql}.tracked_tables t
    WHERE t.relid = ${relid}::regclass ORDER BY t.untracked_at NULLS FIRST LIMIT 1)`;
}

/** What a page of a table as of a time takes: a mount's own summary, or the kept one. */
export type PageDepartures = DeparturesArgument | KeptDepartures;

interface Summary extends Omit<DeparturesArgument, 'upTo' | 'goneTimes' | 'goneKeysLiteral'> {
  goneTimes: string[];
  /** goneKeys' elements in an array literal, without its braces. */
  goneKeysElements: string;
  /** Ids up to this one are summarized. */
  final: bigint;
  /** The resets of the final ids seen when the summary began (final-ids.ts). */
  resets: number;
  /** More departures than the bound: not kept until `since` or `state` change. */
  overflowed: boolean;
}

/**
 * The admin's own summary of each table's departures (its DELETEs and key changes) in the months the departures
 * index does not hold (the current month, the default partition, months ahead: capture writes there, and an index
 * costs every captured change; docs/admin.md), so that a page of a table as of a time months back reads none of those
 * months' changes: table_as_of_page reads the ids above the summary only. Like the summary of transactions
 * (transaction-blocks.ts) it holds only final ids (final-ids.ts: a transaction still open may yet write below the
 * newest id), is brought up to date at each call by reading the ids written since, and costs capture nothing.
 * A summary is read under the log's state (table_departures_state: purges, erasures, the table's key) and from the
 * end of the indexed months (table_departures_since); when either has moved it is read again, and the page checks
 * both in its own snapshot (it reads the log itself when the summary no longer holds).
 *
 * Kept in memory, one per admin mount: the first page of a table reads its departures in those months once. Where
 * ensure_partitions() keeps them in the database (kept_departures, migration 38), a page reads those instead (forPage)
 * and the mount keeps none of its own.
 */
export class TableDepartures {
  private readonly summaries: TableSummaries<Summary>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schemaSql: string,
    private readonly maxDepartures = DEFAULT_MAX_DEPARTURES,
  ) {
    this.summaries = new TableSummaries(pool, schemaSql);
  }

  /**
   * The departures of `table` (a table's name, as table_as_of_page takes it) up to the final ids, brought up to date;
   * null when there is nothing to summarize (the departures index holds every month) or too much (the bound).
   */
  of(table: string): Promise<DeparturesArgument | null> {
    return this.summaries.serialized(() => this.update(table));
  }

  /**
   * What a page of `table` as of `at` takes: the summary ensure_partitions() keeps (kept_departures, migration 38), read
   * by the page itself, while this mount holds none of its own for the table and the kept one holds (read from the same
   * `since`, under the same state of the log, its newest change still there as it was); else this mount's own, as of
   * `at` (departuresAsOf). Null without either.
   */
  async forPage(table: string, at: string): Promise<PageDepartures | null> {
    if (!this.summaries.holds(table)) {
      const kept = await this.kept(table, at);
      if (kept !== null) return kept;
    }
    const departures = await this.of(table);
    return departures && departuresAsOf(departures, at);
  }

  /** The kept summary of `table` for a page as of `at`, when it holds now; null when not, or not readable. */
  private async kept(table: string, at: string): Promise<KeptDepartures | null> {
    try {
      const { rows } = await this.pool.query<{ since: string; state: string }>(
        `SELECT k.since::text AS since, k.state FROM ${this.schemaSql}.kept_departures_tables k
         WHERE k.table_id = ${trackedTableId(this.schemaSql, '$1')}
           AND k.since = ${this.schemaSql}.table_departures_since()
           AND k.state = ${this.schemaSql}.table_departures_state($1::regclass)
           AND ${keptAnchorHolds(this.schemaSql, 'k')}`,
        [table],
      );
      const row = rows[0];
      return row === undefined ? null : { kept: { table, at, since: row.since, state: row.state } };
    } catch (error) {
      if (WITHOUT_KEPT_SUMMARY.has((error as { code?: string }).code ?? '')) return null;
      throw error;
    }
  }

  private async update(table: string): Promise<DeparturesArgument | null> {
    // Two connections at once: the log's state and the final ids do not depend on each other.
    const [{ rows }, { upTo, resets }] = await Promise.all([
      this.pool.query<{ since: string; since_micros: string; state: string | null }>(
        `SELECT s.since::text AS since, (extract(epoch FROM s.since) * 1000000)::text AS since_micros,
           ${this.schemaSql}.table_departures_state($1::regclass) AS state
         FROM (SELECT ${this.schemaSql}.table_departures_since() AS since) s`,
        [table],
      ),
      this.summaries.finalIds.observe(),
    ]);
    const { since, since_micros, state } = rows[0] as { since: string; since_micros: string; state: string | null };
    // Nothing to summarize (every month indexed), or a summary that could not be told stale (the erasures unreadable).
    if (since === 'infinity' || state === null) {
      this.summaries.drop(table);
      return null;
    }
    const summary = this.summaries.take(
      table,
      (kept) => kept.since === since && kept.state === state && kept.resets === resets,
      () => ({ since, sinceMicros: Number(since_micros), state, resets, final: 0n, overflowed: false, ...noLists() }),
    );
    if (summary.overflowed) return null;
    if (upTo > summary.final) await this.extend(table, summary, upTo);
    return summary.overflowed ? null : argument(summary);
  }

  /** Adds the table's departures with ids above the summary's, up to `upTo` (one more than the bound at most). */
  private async extend(table: string, summary: Summary, upTo: bigint): Promise<void> {
    const room = this.maxDepartures - summary.goneKeys.length - summary.moves.length;
    const { rows } = await this.pool.query<{ gone_key: string | null; gone_time: string | null; move: string | null }>(
      `SELECT d.gone_key, d.gone_time::text AS gone_time, d.move::text AS move
       FROM ${this.schemaSql}.table_departures($1::regclass, $2::bigint, $3::bigint, $4::timestamptz) d LIMIT $5`,
      [table, String(summary.final), String(upTo), summary.since, room + 1],
    );
    if (rows.length > room) {
      Object.assign(summary, { overflowed: true, ...noLists() });
      return;
    }
    this.add(summary, rows);
    summary.final = upTo;
  }

  /** Adds departures in id order to the summary's lists. */
  private add(summary: Summary, rows: { gone_key: string | null; gone_time: string | null; move: string | null }[]) {
    const elements: string[] = [];
    for (const row of rows) {
      if (row.move !== null) summary.moves.push(row.move);
      else {
        summary.goneKeys.push(row.gone_key as string);
        elements.push(arrayElement(row.gone_key as string));
        summary.goneTimes.push(row.gone_time as string);
        summary.goneMicros.push(Number(row.gone_time));
      }
    }
    if (elements.length > 0) {
      summary.goneKeysElements += `${summary.goneKeysElements === '' ? '' : ','}${elements.join(',')}`;
    }
  }
}

/** A summary's lists, empty. */
function noLists(): Pick<Summary, 'goneKeys' | 'goneKeysElements' | 'goneTimes' | 'goneMicros' | 'moves'> {
  return { goneKeys: [], goneKeysElements: '', goneTimes: [], goneMicros: [], moves: [] };
}

/**
 * The summary as it is now, its lists copied: a query waiting for a connection sends its values later, when the
 * summary may hold ids above `upTo` (the page would read them twice).
 */
function argument(summary: Summary): DeparturesArgument {
  const { since, sinceMicros, final, state, goneKeys, goneKeysElements, goneTimes, goneMicros, moves } = summary;
  return {
    since,
    sinceMicros,
    upTo: String(final),
    state,
    goneKeys: [...goneKeys],
    goneKeysLiteral: `{${goneKeysElements}}`,
    goneTimes: [...goneTimes],
    goneMicros: [...goneMicros],
    moves: [...moves],
  };
}

/**
 * The summary as a page as of `at` (an ISO time, microseconds kept) needs it: the DELETEs from `at` on only, or none of
 * their times when `at` is before `since` (every departure is after it: the page takes them all, unfiltered). Parsing
 * and filtering 60,000 departures' times cost a page about 14 ms of server CPU at a month's end (docs/benchmarks.md);
 * the page still filters what it is given by its own time (and reads the log when the times it needs are missing).
 */
export function departuresAsOf(departures: DeparturesArgument, at: string): DeparturesArgument {
  const atMicros = epochMicros(at);
  if (Number.isNaN(atMicros)) return departures;
  if (atMicros < departures.sinceMicros) return { ...departures, goneTimes: null };
  const { goneKeys, goneTimes, goneMicros } = departures;
  if (goneTimes === null) return departures;
  const kept = { keys: [] as string[], times: [] as string[], micros: [] as number[] };
  for (let i = 0; i < goneKeys.length; i++) {
    // A millisecond's margin: a number rounds microseconds after the year 2255; the page filters again, exactly.
    if ((goneMicros[i] as number) >= atMicros - 1000) {
      kept.keys.push(goneKeys[i] as string);
      kept.times.push(goneTimes[i] as string);
      kept.micros.push(goneMicros[i] as number);
    }
  }
  return { ...departures, goneKeys: kept.keys, goneKeysLiteral: null, goneTimes: kept.times, goneMicros: kept.micros };
}

/** A text as an element of a PostgreSQL array literal (quoted, as pg quotes it). */
export function arrayElement(text: string): string {
  return `"${text.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * table_as_of_page's `departures` argument as SQL, its values as parameters numbered from `first` on (NULL without a
 * summary: the page reads the log).
 */
export function departuresSql(
  schemaSql: string,
  first: number,
  departures: PageDepartures | null,
): { sql: string; values: unknown[] } {
  if (departures === null) return { sql: `NULL::${schemaSql}.table_departures`, values: [] };
  const n = (i: number) => `$${first + i}`;
  if ('kept' in departures) {
    const { table, at, since, state } = departures.kept;
    // One read of the kept rows, in the page's snapshot; NULL (the page reads the log) when they no longer hold as the
    // admin found them. The DELETEs' keys and times from one scan, in the same order; the key changes in id order.
    // (The page's time in microseconds is an InitPlan, computed once: as an expression of each row, 100 ms for 60,000.)
    return {
      sql: `(SELECT ROW(k.since, k.summarized_to, k.state, coalesce(a.keys, '{}'),
          CASE WHEN f.filtered THEN coalesce(a.times, '{}') END, coalesce(a.moves, '[]'))::${schemaSql}.table_departures
        FROM ${schemaSql}.kept_departures_tables k
          CROSS JOIN LATERAL (SELECT ${n(1)}::timestamptz >= k.since AS filtered) f
          CROSS JOIN LATERAL (SELECT array_agg(d.gone_key) FILTER (WHERE d.gone) AS keys,
              array_agg(d.at_us) FILTER (WHERE d.gone) AS times,
              jsonb_agg(d.move ORDER BY d.id) FILTER (WHERE d.move IS NOT NULL) AS moves
            FROM (SELECT d.id, d.gone_key, d.at_us, d.move, d.move IS NULL AND d.gone_key IS NOT NULL
                AND (NOT f.filtered OR d.at_us >= (SELECT (extract(epoch FROM ${n(1)}::timestamptz) * 1000000)::bigint))
                AS gone
              FROM ${schemaSql}.kept_departures d WHERE d.table_id = k.table_id) d) a
        WHERE k.table_id = ${trackedTableId(schemaSql, n(0))}
          AND k.since = ${n(2)}::timestamptz AND k.state = ${n(3)}::text AND ${keptAnchorHolds(schemaSql, 'k')})`,
      values: [table, at, since, state],
    };
  }
  return {
    sql: `ROW(${n(0)}::timestamptz, ${n(1)}::bigint, ${n(2)}::text, ${n(3)}::text[], ${n(4)}::bigint[],
      ${n(5)}::jsonb)::${schemaSql}.table_departures`,
    values: [
      departures.since,
      departures.upTo,
      departures.state,
      departures.goneKeysLiteral ?? departures.goneKeys,
      departures.goneTimes,
      `[${departures.moves.join(',')}]`,
    ],
  };
}

/**
 * The summary for a page of `table` as of `at` from the admin mount's, or null. A failure to read it leaves the page to
 * read the log, and to answer for what is wrong with the table itself (not tracked, say) as it does without one.
 */
export async function pageDepartures(
  summaries: TableDepartures | undefined,
  table: string,
  at: string,
): Promise<PageDepartures | null> {
  return (await summaries?.forPage(table, at).catch(() => null)) ?? null;
}

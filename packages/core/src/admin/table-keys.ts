import type pg from 'pg';
import { arrayElement } from './table-departures.js';
import { TableSummaries } from './table-summaries.js';

/**
 * At most this many keys and key changes kept per table (about 100 bytes of memory each with a short key: 10 MB): a
 * table whose log holds more is read from the log, as without a summary (docs/admin.md).
 */
const DEFAULT_MAX_KEYS = 100_000;

/** A summary as table_as_of_page takes it (`log_keys`, the type table_keys of migration 30). */
export interface KeysArgument {
  upTo: string;
  state: string;
  /** The keys as a PostgreSQL array literal (kept as the summary grows: pg's serialization of 50,000 keys costs). */
  keysLiteral: string;
  /** The key changes as JSON texts {id, changed_at, old_key}, in id order. */
  moves: string[];
}

interface Summary {
  state: string;
  /** Ids up to this one are summarized. */
  final: bigint;
  /** The resets of the final ids seen when the summary began (final-ids.ts). */
  resets: number;
  keys: Set<string>;
  /** The keys' elements in an array literal, without its braces. */
  elements: string;
  moves: string[];
  /** More keys than the bound: not kept until `state` changes. */
  overflowed: boolean;
}

/**
 * The admin's own summary of every key each table's log holds and of its key changes, for a page of a table as of a
 * time that takes every key as a candidate (a TRUNCATE or a gap in tracking after the time:
 * table_as_of_reads_log_keys), so that such a page reads only the ids above it instead of every change of the table.
 * As the summary of departures (table-departures.ts), it holds only final ids (final-ids.ts), is brought up to date at
 * each call by reading the ids written since, costs capture nothing, and is read again when the log's state
 * (table_departures_state: purges, erasures, the table's key) has moved; the page checks that state in its own
 * snapshot (it reads the log itself when the summary no longer holds). A table's keys are read the first time a page
 * needs them, not before.
 */
export class TableKeys {
  private readonly summaries: TableSummaries<Summary>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schemaSql: string,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {
    this.summaries = new TableSummaries(pool, schemaSql);
  }

  /**
   * The keys of `table` (a table's name, as table_as_of_page takes it) up to the final ids, brought up to date, when a
   * page as of `at` takes them; null when it does not, or when they are too many (the bound).
   */
  of(table: string, at: string): Promise<KeysArgument | null> {
    return this.summaries.serialized(() => this.update(table, at));
  }

  private async update(table: string, at: string): Promise<KeysArgument | null> {
    const { rows } = await this.pool.query<{ state: string | null }>(
      `SELECT CASE WHEN ${this.schemaSql}.table_as_of_reads_log_keys($1::regclass, $2::timestamptz)
         THEN ${this.schemaSql}.table_departures_state($1::regclass) END AS state`,
      [table, at],
    );
    const state = rows[0]?.state ?? null;
    // Not needed, or a summary that could not be told stale (the erasures unreadable).
    if (state === null) return null;
    const { upTo, resets } = await this.summaries.finalIds.observe();
    const summary = this.summaries.take(
      table,
      (kept) => kept.state === state && kept.resets === resets,
      () => ({ state, resets, final: 0n, overflowed: false, ...noKeys() }),
    );
    if (summary.overflowed) return null;
    if (upTo > summary.final) await this.extend(table, summary, upTo);
    if (summary.overflowed) return null;
    // The moves copied: a query waiting for a connection sends its values later, when the summary may have grown.
    return { upTo: String(summary.final), state, keysLiteral: `{${summary.elements}}`, moves: [...summary.moves] };
  }

  /**
   * Adds the table's keys and key changes of the ids above the summary's, up to `upTo` (one more than the bound at
   * most of each).
   */
  private async extend(table: string, summary: Summary, upTo: bigint): Promise<void> {
    const range = [table, String(summary.final), String(upTo), this.maxKeys + 1];
    const [keys, moves] = await Promise.all([
      this.pool.query<{ key: string }>(
        `SELECT k AS key FROM ${this.schemaSql}.table_keys($1::regclass, $2::bigint, $3::bigint) k LIMIT $4`,
        range,
      ),
      this.pool.query<{ move: string }>(
        `SELECT d.move::text AS move FROM ${this.schemaSql}.table_departures($1::regclass, $2::bigint, $3::bigint,
           '-infinity') d WHERE d.move IS NOT NULL LIMIT $4`,
        range,
      ),
    ]);
    const added: string[] = [];
    for (const { key } of keys.rows) {
      if (summary.keys.has(key)) continue;
      summary.keys.add(key);
      added.push(arrayElement(key));
    }
    summary.moves.push(...moves.rows.map((row) => row.move));
    if (summary.keys.size + summary.moves.length > this.maxKeys) {
      Object.assign(summary, { overflowed: true, ...noKeys() });
      return;
    }
    if (added.length > 0) summary.elements += `${summary.elements === '' ? '' : ','}${added.join(',')}`;
    summary.final = upTo;
  }
}

/** A summary's lists, empty. */
function noKeys(): Pick<Summary, 'keys' | 'elements' | 'moves'> {
  return { keys: new Set(), elements: '', moves: [] };
}

/**
 * table_as_of_page's `log_keys` argument as SQL, its values as parameters numbered from `first` on (NULL without a
 * summary: the page reads the log when it needs its keys).
 */
export function logKeysSql(
  schemaSql: string,
  first: number,
  keys: KeysArgument | null,
): { sql: string; values: unknown[] } {
  if (keys === null) return { sql: `NULL::${schemaSql}.table_keys`, values: [] };
  return {
    sql: `ROW($${first}::bigint, $${first + 1}::text, $${first + 2}::text[], $${first + 3}::jsonb)::${schemaSql}.table_keys`,
    values: [keys.upTo, keys.state, keys.keysLiteral, `[${keys.moves.join(',')}]`],
  };
}

/**
 * The summary for a page of `table` as of `at` from the admin mount's, or null. A failure to read it leaves the page to
 * read the log, and to answer for what is wrong with the table itself (not tracked, say) as it does without one.
 */
export function pageLogKeys(summaries: TableKeys | undefined, table: string, at: string): Promise<KeysArgument | null> {
  return summaries?.of(table, at).catch(() => null) ?? Promise.resolve(null);
}

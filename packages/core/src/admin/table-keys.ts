import type pg from 'pg';
import { arrayElement } from './table-departures.js';
import { TableSummaries } from './table-summaries.js';

/**
 * At most this many keys, key changes and entries kept per table (about 100 bytes of memory each with a short key:
 * 10 MB): a table whose log holds more is read from the log, as without a summary (docs/admin.md).
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
  /** The keys rows entered (an INSERT's, a key change's new key), the changes' ids and when (µs since 1970), as array literals. */
  enteredKeysLiteral: string;
  enteredIdsLiteral: string;
  enteredTimesLiteral: string;
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
  /** The entries' keys, ids and times in array literals, without their braces, and how many. */
  enteredElements: string;
  enteredIds: string;
  enteredTimes: string;
  entries: number;
  /** More keys than the bound: not kept until `state` changes. */
  overflowed: boolean;
}

/**
 * The admin's own summary of every key each table's log holds, of its key changes and of the keys its rows entered
 * (INSERTs, key changes: when, so that a page after a TRUNCATE takes only the keys entered since), for a page of a
 * table as of a time that takes every key as a candidate (a TRUNCATE or a gap in tracking after the time:
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
    return {
      upTo: String(summary.final),
      state,
      keysLiteral: `{${summary.elements}}`,
      moves: [...summary.moves],
      enteredKeysLiteral: `{${summary.enteredElements}}`,
      enteredIdsLiteral: `{${summary.enteredIds}}`,
      enteredTimesLiteral: `{${summary.enteredTimes}}`,
    };
  }

  /**
   * Adds the table's keys and key changes of the ids above the summary's, up to `upTo` (one more than the bound at
   * most of each).
   */
  private async extend(table: string, summary: Summary, upTo: bigint): Promise<void> {
    const range = [table, String(summary.final), String(upTo), this.maxKeys + 1];
    const [keys, moves] = await Promise.all([
      this.pool.query<{ key: string; entered_id: string | null; entered_at: string | null }>(
        `SELECT k.row_key AS key, k.entered_id::text AS entered_id, k.entered_at::text AS entered_at
         FROM ${this.schemaSql}.table_keys($1::regclass, $2::bigint, $3::bigint) k LIMIT $4::integer * 2`,
        range,
      ),
      this.pool.query<{ move: string }>(
        `SELECT d.move::text AS move FROM ${this.schemaSql}.table_departures($1::regclass, $2::bigint, $3::bigint,
           '-infinity') d WHERE d.move IS NOT NULL LIMIT $4`,
        range,
      ),
    ]);
    const added: string[] = [];
    const entered = { keys: [] as string[], ids: [] as string[], times: [] as string[] };
    for (const { key, entered_id, entered_at } of keys.rows) {
      if (entered_id !== null && entered_at !== null) {
        entered.keys.push(arrayElement(key));
        entered.ids.push(entered_id);
        entered.times.push(entered_at);
      } else if (!summary.keys.has(key)) {
        summary.keys.add(key);
        added.push(arrayElement(key));
      }
    }
    summary.moves.push(...moves.rows.map((row) => row.move));
    summary.entries += entered.keys.length;
    if (summary.keys.size + summary.moves.length + summary.entries > this.maxKeys) {
      Object.assign(summary, { overflowed: true, ...noKeys() });
      return;
    }
    summary.elements = joined(summary.elements, added);
    summary.enteredElements = joined(summary.enteredElements, entered.keys);
    summary.enteredIds = joined(summary.enteredIds, entered.ids);
    summary.enteredTimes = joined(summary.enteredTimes, entered.times);
    summary.final = upTo;
  }
}

/** A summary's lists, empty. */
function noKeys(): Omit<Summary, 'state' | 'final' | 'resets' | 'overflowed'> {
  return {
    keys: new Set(),
    elements: '',
    moves: [],
    enteredElements: '',
    enteredIds: '',
    enteredTimes: '',
    entries: 0,
  };
}

/** The elements of an array literal (without its braces) with `more` after them. */
function joined(elements: string, more: string[]): string {
  if (more.length === 0) return elements;
  return `${elements}${elements === '' ? '' : ','}${more.join(',')}`;
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
    sql: `ROW($${first}::bigint, $${first + 1}::text, $${first + 2}::text[], $${first + 3}::jsonb,
      $${first + 4}::text[], $${first + 5}::bigint[], $${first + 6}::bigint[])::${schemaSql}.table_keys`,
    values: [
      keys.upTo,
      keys.state,
      keys.keysLiteral,
      `[${keys.moves.join(',')}]`,
      keys.enteredKeysLiteral,
      keys.enteredIdsLiteral,
      keys.enteredTimesLiteral,
    ],
  };
}

/**
 * The summary for a page of `table` as of `at` from the admin mount's, or null. A failure to read it leaves the page to
 * read the log, and to answer for what is wrong with the table itself (not tracked, say) as it does without one.
 */
export function pageLogKeys(summaries: TableKeys | undefined, table: string, at: string): Promise<KeysArgument | null> {
  return summaries?.of(table, at).catch(() => null) ?? Promise.resolve(null);
}

import type pg from 'pg';
import { FinalIds } from './final-ids.js';

/** At most this many tables summarized at once by each kind of summary: the one read least recently is dropped. */
const MAX_TABLES = 8;

/**
 * The per-table summaries of one kind an admin mount keeps in memory (table-departures.ts, table-keys.ts): over final
 * ids only (their own, final-ids.ts), one update at a time (they share those ids), `MAX_TABLES` tables at most.
 */
export class TableSummaries<Summary> {
  readonly finalIds: FinalIds;
  /** By table, the one read most recently last. */
  private readonly tables = new Map<string, Summary>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(pool: pg.Pool, schemaSql: string) {
    this.finalIds = new FinalIds(pool, schemaSql);
  }

  /** Runs `update` once the updates asked for before it have ended. */
  serialized<T>(update: () => Promise<T>): Promise<T> {
    const next = this.queue.then(update);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The summary of `table` when `holds` says it still does, else a new one (`begin`), now the most recently read. */
  take(table: string, holds: (summary: Summary) => boolean, begin: () => Summary): Summary {
    const kept = this.tables.get(table);
    this.tables.delete(table);
    const summary = kept !== undefined && holds(kept) ? kept : begin();
    this.tables.set(table, summary);
    if (this.tables.size > MAX_TABLES) this.tables.delete(this.tables.keys().next().value as string);
    return summary;
  }

  /** Whether a summary of `table` is kept (not read: the order of reading is left as it is). */
  holds(table: string): boolean {
    return this.tables.has(table);
  }

  /** Forgets the summary of `table`. */
  drop(table: string): void {
    this.tables.delete(table);
  }
}

import { AsyncResource } from 'node:async_hooks';
import type pg from 'pg';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { ApiRequestRecord } from './api-request-record.js';
import { API_REQUEST_COLUMNS, recordValues } from './api-request-record.js';
import { copyIn } from './copy-in.js';
import { copyLine } from './copy-text.js';
import { LinePages } from './line-pages.js';

/** A queued row: one line of COPY text (UTF-8, in a LinePages page), its values in API_REQUEST_COLUMNS order. */
type QueuedRow = Buffer;

export interface ApiLogQueueOptions {
  /** Rows held in memory at most; more are dropped (and counted) rather than grow without bound. Default 10,000. */
  maxRows?: number;
  /** Rows per INSERT. Default 500. */
  batchSize?: number;
  /** Longest wait before queued rows are written. Default 200 ms. */
  flushIntervalMs?: number;
}

export interface ApiLogStats {
  /** Rows waiting in memory. */
  queued: number;
  /** Rows written to the database. */
  written: number;
  /** Rows dropped because the queue was full. */
  dropped: number;
  /** Rows lost because the database refused them (each reported to onError). */
  failed: number;
}

/**
 * A bounded in-memory queue of API-log rows written in batches by one COPY FROM STDIN each, PostgreSQL's cheapest
 * way in for many rows (no statement to plan, no arrays to build and take apart). Rows become lines of COPY text
 * when queued, so a flush only joins bytes. At most one batch is in flight.
 * Nothing here ever throws into, or waits in, the request path: errors go to `onError`.
 */
export class ApiLogWriter {
  readonly #pool: pg.Pool;
  readonly #sql: string;
  readonly #maxRows: number;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #onError: (error: unknown) => void;
  // Writes run in the async context of the writer's creation, never in a request's audit context.
  readonly #resource = new AsyncResource('auditrum.api-log');
  #queue: QueuedRow[] = [];
  readonly #pages = new LinePages();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #overflowing = false;
  #closed = false;
  #reportedClosed = false;
  readonly #stats: ApiLogStats = { queued: 0, written: 0, dropped: 0, failed: 0 };

  constructor(pool: pg.Pool, schema: string, options: ApiLogQueueOptions, onError: (error: unknown) => void) {
    this.#pool = pool;
    this.#maxRows = positiveInt('queue.maxRows', options.maxRows ?? 10_000);
    this.#batchSize = positiveInt('queue.batchSize', options.batchSize ?? 500);
    this.#flushIntervalMs = positiveInt('queue.flushIntervalMs', options.flushIntervalMs ?? 200);
    this.#onError = onError;
    const columns = API_REQUEST_COLUMNS.map(([name]) => quoteIdentifier(name)).join(', ');
    this.#sql = `COPY ${quoteIdentifier(schema)}.api_requests (${columns}) FROM STDIN`;
  }

  /** Queues one row; drops it (counted, reported once per overflow) when the queue is full or closed. */
  push(record: ApiRequestRecord): void {
    if (this.#closed) {
      this.#stats.dropped += 1;
      if (!this.#reportedClosed) {
        this.#reportedClosed = true;
        this.#report(new Error('auditrum: API log row dropped: the logger is closed'));
      }
      return;
    }
    if (this.#queue.length >= this.#maxRows) {
      this.#stats.dropped += 1;
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#report(
          new Error(`auditrum: API log queue is full (${this.#maxRows} rows); dropping rows until it drains`),
        );
      }
      return;
    }
    this.#overflowing = false;
    this.#queue.push(this.#pages.copy(copyLine(recordValues(record))));
    if (this.#queue.length >= this.#batchSize) this.#kick();
    else this.#timer ??= this.#resource.runInAsyncScope(() => setTimeout(() => this.#kick(), this.#flushIntervalMs));
  }

  stats(): ApiLogStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /** Writes everything queued, then accepts no more rows. Safe to call more than once. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  /** Resolves when every row queued so far has been written (or reported). */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#inFlight) {
      if (!this.#inFlight) this.#kick();
      await this.#inFlight;
    }
  }

  #kick(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#inFlight || this.#queue.length === 0) return;
    this.#inFlight = this.#resource.runInAsyncScope(() => this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#batchSize);
        await this.#write(batch);
        // Below a full batch, wait for more rows (or the interval) instead of writing tiny batches.
        if (this.#queue.length < this.#batchSize && !this.#closed) break;
      }
    } finally {
      this.#inFlight = undefined;
      if (this.#queue.length > 0) {
        this.#timer ??= this.#resource.runInAsyncScope(() => setTimeout(() => this.#kick(), this.#flushIntervalMs));
      }
    }
  }

  async #write(batch: QueuedRow[]): Promise<void> {
    try {
      await copyIn(this.#pool, this.#sql, Buffer.concat(batch));
      this.#stats.written += batch.length;
    } catch (error) {
      if (batch.length === 1 || !isDataError(error)) {
        this.#stats.failed += batch.length;
        this.#report(error);
        return;
      }
      // One bad row must not take its batch with it: write them one by one to find it.
      for (const record of batch) await this.#write([record]);
    }
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // The reporter itself failed; nothing else can be done without risking the request path.
    }
  }
}

// Class 22 (data exception) and 23 (integrity): the row's fault, not the connection's.
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`auditrum: ${name} must be a positive whole number, not ${String(value)}`);
  }
  return value;
}

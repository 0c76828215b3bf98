import { AsyncResource } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { quoteIdentifier } from '../schema/identifiers.js';
import { observeApiLogWrite, watchApiLogWriter } from '../telemetry/metrics.js';
import { traced } from '../telemetry/open-telemetry.js';
import type { ApiRequestRecord } from './api-request-record.js';
import { API_REQUEST_COLUMNS, recordValues } from './api-request-record.js';
import { copyIn } from './copy-in.js';
import { copyLine } from './copy-text.js';
import { LinePages } from './line-pages.js';
import { retryDelay } from './retry-delay.js';
import { writeFailure } from './write-failure.js';

/** A queued row: one line of COPY text (UTF-8, in a LinePages page), its values in API_REQUEST_COLUMNS order. */
type QueuedRow = Buffer;

export interface ApiLogQueueOptions {
  /** Rows held in memory at most (being written or waiting); more are dropped and counted. Default 10,000. */
  maxRows?: number;
  /** Bytes of rows held in memory at most, the other bound. Default 64 MiB. */
  maxBytes?: number;
  /** Rows per COPY batch. Default 500. */
  batchSize?: number;
  /** Longest wait before queued rows are written. Default 200 ms. */
  flushIntervalMs?: number;
  /** Dropped rows and a database still unreachable are reported at most once per this interval. Default 10 s. */
  reportIntervalMs?: number;
  /** How long close() keeps trying to write what is queued before it reports the rest lost. Default 10 s. */
  closeTimeoutMs?: number;
}

export interface ApiLogStats {
  /** Rows in memory: waiting, or being written. */
  queued: number;
  /** Their size in bytes, as bounded by `maxBytes`. */
  queuedBytes: number;
  /** The most rows held at once. */
  peakQueued: number;
  /** The most bytes held at once. */
  peakQueuedBytes: number;
  /** Rows written to the database. */
  written: number;
  /** Rows never written: the queue was full, the logger was closed, or close() gave up on an unreachable database. */
  dropped: number;
  /** Rows the database refused (a data error in the row; each reported to onError). */
  failed: number;
  /** Batches retried because the database could not be reached. */
  retries: number;
}

/** The counts of a logger that writes nothing. */
export function emptyApiLogStats(): ApiLogStats {
  return {
    queued: 0,
    queuedBytes: 0,
    peakQueued: 0,
    peakQueuedBytes: 0,
    written: 0,
    dropped: 0,
    failed: 0,
    retries: 0,
  };
}

// A batch is one COPY: big bodies make few rows many megabytes, which is one buffer to build and send.
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * A bounded in-memory queue of API-log rows written in batches by one COPY FROM STDIN each, PostgreSQL's cheapest
 * way in for many rows (no statement to plan, no arrays to build and take apart). Rows become lines of COPY text
 * when queued, so a flush only joins bytes. At most one batch is in flight, and a row stays in the queue (and in
 * its bounds) until it is written.
 *
 * When the database cannot be reached, rows are kept and retried with capped exponential backoff; only rows past
 * the bounds are dropped, counted and reported once per interval. A batch the database refuses is split until
 * the bad row is found; that row alone is reported and lost.
 * Nothing here ever throws into, or waits in, the request path: errors go to `onError`.
 */
export class ApiLogWriter {
  readonly #pool: pg.Pool;
  readonly #sql: string;
  readonly #maxRows: number;
  readonly #maxBytes: number;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #reportIntervalMs: number;
  readonly #closeTimeoutMs: number;
  readonly #onError: (error: unknown) => void;
  // Writes run in the async context of the writer's creation, never in a request's audit context.
  readonly #resource = new AsyncResource('auditrum.api-log');
  #queue: QueuedRow[] = [];
  readonly #pages = new LinePages();
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  // close() gave up: the queue was counted lost and nothing more is tried.
  #abandoned = false;
  #reportedClosed = false;
  // Consecutive failed attempts to reach the database, and when that was last reported.
  #failures = 0;
  #lastFailure: unknown;
  #failureReportedAt = 0;
  // Rows dropped for lack of room since the last report, reported when #dropReport fires.
  #unreportedDrops = 0;
  #dropReport: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  readonly #stats: ApiLogStats = emptyApiLogStats();

  constructor(pool: pg.Pool, schema: string, options: ApiLogQueueOptions, onError: (error: unknown) => void) {
    this.#pool = pool;
    this.#maxRows = positiveInt('queue.maxRows', options.maxRows ?? 10_000);
    this.#maxBytes = positiveInt('queue.maxBytes', options.maxBytes ?? 64 * 1024 * 1024);
    this.#batchSize = positiveInt('queue.batchSize', options.batchSize ?? 500);
    this.#flushIntervalMs = positiveInt('queue.flushIntervalMs', options.flushIntervalMs ?? 200);
    this.#reportIntervalMs = positiveInt('queue.reportIntervalMs', options.reportIntervalMs ?? 10_000);
    this.#closeTimeoutMs = positiveInt('queue.closeTimeoutMs', options.closeTimeoutMs ?? 10_000);
    this.#onError = onError;
    const columns = API_REQUEST_COLUMNS.map(([name]) => quoteIdentifier(name)).join(', ');
    this.#sql = `COPY ${quoteIdentifier(schema)}.api_requests (${columns}) FROM STDIN`;
    watchApiLogWriter(this);
  }

  /** Queues one row; drops it (counted, reported once per interval) when the queue is full or closed. */
  push(record: ApiRequestRecord): void {
    if (this.#closed) {
      this.#stats.dropped += 1;
      if (!this.#reportedClosed) {
        this.#reportedClosed = true;
        this.#report(new Error('auditrum: API log row dropped: the logger is closed'));
      }
      return;
    }
    const line = copyLine(recordValues(record));
    // A UTF-16 code unit is at most 3 bytes: most rows are known to fit without encoding them first.
    const stats = this.#stats;
    if (
      this.#queue.length >= this.#maxRows ||
      (stats.queuedBytes + line.length * 3 > this.#maxBytes &&
        stats.queuedBytes + Buffer.byteLength(line) > this.#maxBytes)
    ) {
      this.#drop();
      return;
    }
    const row = this.#pages.copy(line);
    this.#queue.push(row);
    stats.queuedBytes += row.length;
    if (this.#queue.length > stats.peakQueued) stats.peakQueued = this.#queue.length;
    if (stats.queuedBytes > stats.peakQueuedBytes) stats.peakQueuedBytes = stats.queuedBytes;
    if (this.#queue.length >= this.#batchSize) this.#kick();
    else this.#timer ??= this.#resource.runInAsyncScope(() => setTimeout(() => this.#kick(), this.#flushIntervalMs));
  }

  stats(): ApiLogStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /** The most rows held in memory (`queue.maxRows`). */
  get maxRows(): number {
    return this.#maxRows;
  }

  /**
   * Writes everything queued, then accepts no more rows. While the database cannot be reached it keeps trying
   * for `closeTimeoutMs`, then reports the rows it could not write and counts them dropped. Safe to call again.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#resource.runInAsyncScope(() => this.#closeWithin());
    return this.#closing;
  }

  /** Resolves when every row queued so far has been written (or reported); waits out an outage. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#abandoned) {
      if (!this.#draining) this.#kick();
      await this.#draining;
    }
  }

  async #closeWithin(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      this.flush().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.#closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (gaveUp) this.#abandon();
    this.#reportDrops();
  }

  #abandon(): void {
    const lost = this.#queue.length;
    this.#abandoned = true;
    this.#queue = [];
    this.#stats.queuedBytes = 0;
    this.#stats.dropped += lost;
    this.#wake?.();
    if (lost > 0) {
      this.#report(
        new Error(
          `auditrum: API log closed with ${lost} row(s) not written: the database could not be reached within ${this.#closeTimeoutMs} ms`,
          { cause: this.#lastFailure },
        ),
      );
    }
  }

  #drop(): void {
    this.#stats.dropped += 1;
    this.#unreportedDrops += 1;
    if (this.#dropReport) return;
    this.#dropReport = setTimeout(() => this.#reportDrops(), this.#reportIntervalMs);
    // Reporting alone must not keep the process alive.
    this.#dropReport.unref();
  }

  #reportDrops(): void {
    clearTimeout(this.#dropReport);
    this.#dropReport = undefined;
    const dropped = this.#unreportedDrops;
    if (dropped === 0) return;
    this.#unreportedDrops = 0;
    this.#report(
      new Error(
        `auditrum: API log dropped ${dropped} row(s): the queue was full (${this.#maxRows} rows or ${this.#maxBytes} bytes) while the database was slow or unreachable`,
        { cause: this.#lastFailure },
      ),
    );
  }

  #kick(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#draining || this.#queue.length === 0 || this.#abandoned) return;
    this.#draining = this.#resource.runInAsyncScope(() => this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      // The first batch is written whatever its size (the interval is over, or flush() asked), and so is one
      // being retried.
      let writeAnyway = true;
      while (this.#queue.length > 0 && !this.#abandoned) {
        // Below a full batch, wait for more rows (or the interval) instead of writing tiny batches.
        if (!writeAnyway && this.#queue.length < this.#batchSize && !this.#closed) break;
        writeAnyway = !(await this.#writeFront(this.#nextBatchCount()));
        if (writeAnyway) await this.#pauseBeforeRetry();
      }
    } catch (error) {
      // Nothing above throws by design; if it did, the rows stay queued for the next flush.
      this.#report(error);
    } finally {
      this.#draining = undefined;
      if (this.#queue.length > 0 && !this.#abandoned) {
        this.#timer ??= this.#resource.runInAsyncScope(() => setTimeout(() => this.#kick(), this.#flushIntervalMs));
      }
    }
  }

  #nextBatchCount(): number {
    let count = 0;
    let bytes = 0;
    while (count < this.#batchSize && count < this.#queue.length) {
      bytes += (this.#queue[count] as QueuedRow).length;
      if (count > 0 && bytes > MAX_BATCH_BYTES) break;
      count += 1;
    }
    return count;
  }

  /**
   * Writes the first `count` queued rows; each leaves the queue once written or refused. Returns false when the
   * database could not be reached: the rows not yet written stay first in the queue, to be retried.
   */
  async #writeFront(count: number): Promise<boolean> {
    const rows = this.#queue.slice(0, count);
    let failure: unknown;
    const started = performance.now();
    try {
      await traced('auditrum.api_log.write', { 'auditrum.rows': count }, () =>
        copyIn(this.#pool, this.#sql, Buffer.concat(rows)),
      );
    } catch (error) {
      failure = error;
    }
    observeApiLogWrite((performance.now() - started) / 1000, failure === undefined);
    if (this.#abandoned) {
      // close() counted these dropped meanwhile; they were written after all.
      if (failure === undefined) {
        this.#stats.dropped -= count;
        this.#stats.written += count;
      }
      return false;
    }
    if (failure === undefined) {
      this.#failures = 0;
      this.#stats.written += count;
      this.#dequeue(count);
      return true;
    }
    if (writeFailure(failure) === 'unavailable') {
      this.#unavailable(failure);
      return false;
    }
    if (count === 1) {
      this.#stats.failed += 1;
      this.#dequeue(1);
      this.#report(
        new Error(`auditrum: API log row refused by the database (request ${requestIdOf(rows[0] as QueuedRow)})`, {
          cause: failure,
        }),
      );
      return true;
    }
    // One bad row must not take its batch with it: halve until it is found, writing the good halves.
    const half = Math.ceil(count / 2);
    return (await this.#writeFront(half)) && this.#writeFront(count - half);
  }

  #dequeue(count: number): void {
    for (let i = 0; i < count; i++) this.#stats.queuedBytes -= (this.#queue[i] as QueuedRow).length;
    this.#queue.splice(0, count);
  }

  // The first failure of an outage is reported at once; later ones at most once per report interval.
  #unavailable(error: unknown): void {
    this.#failures += 1;
    this.#lastFailure = error;
    const now = Date.now();
    if (this.#failures === 1) {
      this.#failureReportedAt = now;
      this.#report(
        new Error(
          `auditrum: API log cannot reach the database; keeping ${this.#queue.length} row(s) and retrying: ${messageOf(error)}`,
          { cause: error },
        ),
      );
    } else if (now - this.#failureReportedAt >= this.#reportIntervalMs) {
      this.#failureReportedAt = now;
      this.#report(
        new Error(
          `auditrum: API log still cannot reach the database after ${this.#failures} attempts; keeping ${this.#queue.length} row(s): ${messageOf(error)}`,
          { cause: error },
        ),
      );
    }
  }

  #pauseBeforeRetry(): Promise<void> {
    if (this.#abandoned) return Promise.resolve();
    this.#stats.retries += 1;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, retryDelay(this.#failures));
      // close() giving up ends the wait at once.
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // The reporter itself failed; nothing else can be done without risking the request path.
    }
  }
}

/** The request id of a queued row (its second field), to name the row in a report. */
function requestIdOf(row: QueuedRow): string {
  const line = row.toString('utf8');
  const start = line.indexOf('\t') + 1;
  const end = line.indexOf('\t', start);
  return line.slice(start, end < 0 ? undefined : end);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`auditrum: ${name} must be a positive whole number, not ${String(value)}`);
  }
  return value;
}

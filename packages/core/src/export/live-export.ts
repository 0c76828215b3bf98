import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { checkOut, ignoreConnectionError, isPool } from '../db/queryable.js';
import type { InstantInput } from '../history/instant.js';
import { parseInstant } from '../history/instant.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { assertNoRestorePending, latestRestore } from '../schema/restore-boundary.js';
import type { ExportCursor, ExportLog } from './export-cursor.js';
import { checkCursorDatabase, databaseIdentity, EXPORT_LOGS, ExportInputError, newCursor } from './export-cursor.js';
import type { DeliveredRecord, ExportRecord } from './export-record.js';
import { parsePosition } from './export-record.js';
import { nextStep, peekHorizon, readHorizon } from './export-step.js';
import { stepRecords } from './step-rows.js';

export interface ExportOptions {
  /** Where to resume (a cursor stored from an earlier export of this database and schema); absent: a new cursor. */
  cursor?: ExportCursor | undefined;
  /** A new cursor's logs, in this order within each step. Default both: `['changes', 'requests']`. */
  logs?: ExportLog[] | undefined;
  /** A new cursor's start: rows before this time (ISO 8601 with a zone, or a Date) are never exported. */
  since?: InstantInput | undefined;
  /** Keep going: wait for new rows (polling) until `signal` aborts. Default false: stop once caught up. */
  follow?: boolean | undefined;
  /** With `follow`, the wait between polls. Default 250 ms; 10 to 60,000. */
  pollIntervalMs?: number | undefined;
  /** The last record the sink holds (a file sink reads it from its file): the step in progress resumes after it. */
  deliveredThrough?: DeliveredRecord | undefined;
  /**
   * Called with the cursor before the first record of each step (the step must be stored before any of its records
   * is delivered, so that a resumed export runs the same step), when following and caught up, and at the end:
   * deliver what is pending, then store the cursor durably. Without it the export is at-least-once across a crash.
   */
  checkpoint?: ((cursor: ExportCursor) => Promise<void>) | undefined;
  /** Ends the export (between polls, or at the next record). */
  signal?: AbortSignal | undefined;
}

/** A running export: its records, and the cursor after the last record yielded. */
export interface LogExport extends AsyncIterable<ExportRecord> {
  /** The cursor that resumes after the last record yielded (store it once that record is delivered). */
  readonly cursor: ExportCursor | undefined;
}

const KNOWN = ['cursor', 'logs', 'since', 'follow', 'pollIntervalMs', 'deliveredThrough', 'checkpoint', 'signal'];
// With follow, a step smaller than this is followed by a wait before the next poll, not by another step at once.
const BUSY_STEP_ROWS = 10_000;

/**
 * Streams the change log and the API-request log, each row exactly once per cursor: a row is taken only once its
 * transaction has ended and no transaction can commit behind the cursor any more (below a snapshot's xmin, as
 * `seal` does), so a transaction that began before and committed after a later row is never skipped. See
 * docs/export.md for the design and its guarantees. On a pool, one connection is taken for the export's life; on a
 * client, the client is used, in autocommit (not in a transaction: its own transaction id would hold the horizon;
 * discard it if the iteration stops early: it may be mid-COPY). Run it as a role that may read both logs,
 * `tracked_tables` and their id sequences (the schema's owner, the admin role of harden).
 */
export function exportLogs(db: Queryable, schema: string, options: ExportOptions = {}): LogExport {
  const checked = checkExportOptions(options);
  let state: ExportCursor | undefined;
  return {
    get cursor() {
      return state === undefined ? undefined : structuredClone(state);
    },
    async *[Symbol.asyncIterator]() {
      const client = isPool(db) ? await checkOut(db) : db;
      if (client === db) client.on('error', ignoreConnectionError);
      // Whether the connection can go back to the pool: not while a COPY is cut off midway.
      let reusable = true;
      try {
        const identity = await databaseIdentity(client, schema);
        if (checked.cursor !== undefined) checkCursorDatabase(checked.cursor, identity);
        // A restored log's rows are told from this cluster's by its restore boundary, read once (a new one is
        // recorded only in another database, which a cursor refuses).
        await assertNoRestorePending(client, quoteIdentifier(schema), 'exportLogs()');
        const restore = await latestRestore(client, quoteIdentifier(schema));
        const cursor = structuredClone(checked.cursor) ?? newCursor(identity, checked.logs, checked.since);
        const through = checked.deliveredThrough;
        if (through !== undefined && through.step === cursor.step && through.index + 1 > cursor.delivered) {
          cursor.delivered = through.index + 1;
          cursor.last = { log: through.log, id: through.id };
        }
        state = cursor;
        const checkpoint = async () => checked.checkpoint?.(structuredClone(cursor));
        const runStep = async function* (): AsyncGenerator<ExportRecord> {
          reusable = false;
          for await (const record of stepRecords(client, schema, cursor, restore)) {
            cursor.delivered += 1;
            cursor.last = { log: record.log, id: record.id };
            yield record;
            if (checked.signal?.aborted) return;
          }
          reusable = true;
        };
        // The step in progress when the cursor was stored, run again from where it stopped.
        const resumed = cursor.delivered;
        yield* runStep();
        let rows = cursor.delivered - resumed;
        for (let first = true; !checked.signal?.aborted; first = false) {
          if (!first && checked.follow && rows < BUSY_STEP_ROWS) await pause(checked.pollIntervalMs, checked.signal);
          if (checked.signal?.aborted) break;
          const moved = BigInt(await peekHorizon(client)) > BigInt(cursor.to);
          const step = moved ? nextStep(cursor, await readHorizon(client, schema)) : undefined;
          if (step === undefined) {
            if (!checked.follow) break;
            rows = 0;
            await checkpoint();
            continue;
          }
          Object.assign(cursor, step);
          await checkpoint();
          yield* runStep();
          rows = cursor.delivered;
          if (!checked.follow) break;
        }
        await checkpoint();
      } catch (error) {
        reusable = false;
        throw error;
      } finally {
        client.off('error', ignoreConnectionError);
        // Stopped mid-step (the consumer broke off, or a failure): the connection may be mid-COPY, so it is discarded.
        if (isPool(db)) (client as pg.PoolClient).release(reusable ? undefined : new Error('auditrum: export stopped'));
      }
    },
  };
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}

interface CheckedOptions {
  cursor: ExportCursor | undefined;
  logs: ExportLog[];
  since: string | null;
  follow: boolean;
  pollIntervalMs: number;
  deliveredThrough: { step: number; index: number; log: ExportLog; id: string } | undefined;
  checkpoint: ((cursor: ExportCursor) => Promise<void>) | undefined;
  signal: AbortSignal | undefined;
}

function checkExportOptions(options: ExportOptions): CheckedOptions {
  const fail = (message: string): never => {
    throw new ExportInputError(`auditrum: exportLogs(): ${message}`);
  };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) fail('options must be an object');
  const unknown = Object.keys(options).filter((name) => !KNOWN.includes(name));
  if (unknown.length > 0)
    fail(`unknown option ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${KNOWN.join(', ')})`);
  const { cursor, logs, since, follow, pollIntervalMs, deliveredThrough, checkpoint, signal } = options;
  if (cursor !== undefined && since !== undefined)
    fail('"since" starts a new cursor; a stored cursor has its own start');
  if (cursor !== undefined && logs !== undefined && logs.join() !== cursor.logs.join()) {
    fail(`the cursor exports ${cursor.logs.join(', ')}, not ${logs.join(', ')}`);
  }
  const chosen = logs ?? cursor?.logs ?? [...EXPORT_LOGS];
  if (
    !Array.isArray(chosen) ||
    chosen.length === 0 ||
    !chosen.every((log) => (EXPORT_LOGS as readonly unknown[]).includes(log)) ||
    new Set(chosen).size !== chosen.length
  ) {
    fail(`"logs" must name one or both of ${EXPORT_LOGS.join(', ')}, each once`);
  }
  const poll = pollIntervalMs ?? 250;
  if (!Number.isInteger(poll) || poll < 10 || poll > 60_000)
    fail('"pollIntervalMs" must be a whole number from 10 to 60000');
  if (follow !== undefined && typeof follow !== 'boolean') fail('"follow" must be a boolean');
  if (checkpoint !== undefined && typeof checkpoint !== 'function') fail('"checkpoint" must be a function');
  const position = deliveredThrough === undefined ? undefined : parsePosition(deliveredThrough.position);
  if (
    deliveredThrough !== undefined &&
    (position === undefined ||
      !(EXPORT_LOGS as readonly unknown[]).includes(deliveredThrough.log) ||
      !/^\d{1,19}$/.test(deliveredThrough.id))
  ) {
    fail('"deliveredThrough" must be a delivered record: { position: "step:index", log, id }');
  }
  let start: string | null = null;
  if (since !== undefined) {
    try {
      start = parseInstant(since, 'time "since"');
    } catch (error) {
      fail((error as Error).message.replace(/^auditrum: /, ''));
    }
  }
  return {
    cursor,
    logs: chosen,
    since: start,
    follow: follow ?? false,
    pollIntervalMs: poll,
    deliveredThrough:
      position === undefined || deliveredThrough === undefined
        ? undefined
        : { ...position, log: deliveredThrough.log, id: deliveredThrough.id },
    checkpoint,
    signal,
  };
}

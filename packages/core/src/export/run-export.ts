import type { Queryable } from '../db/queryable.js';
import { observeExportDelivered } from '../telemetry/metrics.js';
import { traced } from '../telemetry/open-telemetry.js';
import { readCursorFile, writeCursorFile } from './cursor-file.js';
import type { ExportCursor, ExportLog } from './export-cursor.js';
import { ExportInputError } from './export-cursor.js';
import type { ExportFormat } from './export-format.js';
import type { ExportSink } from './export-sink.js';
import { exportLogs } from './live-export.js';

export interface RunExportOptions {
  /** Where the cursor is stored: read at the start (absent: a new cursor), written after each batch delivered. */
  cursorFile?: string | undefined;
  since?: string | undefined;
  logs?: ExportLog[] | undefined;
  follow?: boolean | undefined;
  pollIntervalMs?: number | undefined;
  format: ExportFormat;
  sink: ExportSink;
  /** Records per batch delivered (and cursor stored). Default 10,000 (a step's last batch may be smaller). */
  batchRows?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface RunExportResult {
  /** Records delivered by this run. */
  records: number;
  cursor: ExportCursor | undefined;
}

/**
 * Runs an export into a sink: records are formatted into batches; each batch is delivered, then the cursor stored,
 * and each step's cursor is stored before its first record is delivered (see exportLogs). Nothing is written, the
 * cursor file included, before the cursor and the database are checked.
 */
export async function runExport(db: Queryable, schema: string, options: RunExportOptions): Promise<RunExportResult> {
  const { cursorFile, format, sink } = options;
  const batchRows = options.batchRows ?? 10_000;
  const stored = cursorFile === undefined ? undefined : await readCursorFile(cursorFile);
  const deliveredThrough = await sink.deliveredThrough();
  // A sink's position means something only to the cursor that wrote it: a new cursor would skip (or repeat) records.
  if (stored === undefined && deliveredThrough !== undefined) {
    throw new ExportInputError(
      `auditrum: the output already holds records of another export (the last at position ${deliveredThrough.position}); a new cursor needs new files, or give the cursor that wrote them`,
    );
  }
  let text = '';
  let count = 0;
  let first = '';
  let last = '';
  let lastTime = '';
  let records = 0;
  let sinkFailed = false;
  const run = exportLogs(db, schema, {
    cursor: stored,
    since: options.since,
    logs: options.logs,
    follow: options.follow,
    pollIntervalMs: options.pollIntervalMs,
    deliveredThrough,
    signal: options.signal,
    checkpoint: async (cursor) => {
      await flush(cursor.id);
      await store(cursor);
    },
  });
  async function flush(cursorId: string): Promise<void> {
    if (count === 0) return;
    const batch = { text, count, first, last, key: `${cursorId}:${first}:${count}` };
    try {
      await traced('auditrum.export.deliver', { 'auditrum.records': count }, () => sink.deliver(batch));
    } catch (error) {
      sinkFailed = true;
      throw error;
    }
    observeExportDelivered(count, Date.parse(lastTime));
    records += count;
    text = '';
    count = 0;
  }
  async function flushAndStore(): Promise<void> {
    const cursor = run.cursor;
    if (cursor === undefined) return;
    await flush(cursor.id);
    await store(cursor);
  }
  // A follower that is caught up checkpoints at every poll: the file is written only when the cursor changed.
  let lastStored = stored === undefined ? '' : JSON.stringify(stored);
  async function store(cursor: ExportCursor): Promise<void> {
    const json = JSON.stringify(cursor);
    if (cursorFile === undefined || json === lastStored) return;
    await writeCursorFile(cursorFile, cursor);
    lastStored = json;
  }
  try {
    for await (const record of run) {
      text += format.line(record);
      if (count === 0) first = record.position;
      last = record.position;
      lastTime = record.time;
      count += 1;
      if (count >= batchRows) await flushAndStore();
    }
  } catch (error) {
    // The records read before a database failure are still delivered, and the cursor stored after them.
    if (!sinkFailed) await flushAndStore().catch(() => undefined);
    throw error;
  } finally {
    await sink.close();
  }
  return { records, cursor: run.cursor };
}

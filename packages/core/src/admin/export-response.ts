import type { AdminResponse } from './admin-http.js';
import { withCommonHeaders } from './admin-http.js';
import type { ExportFormat } from './api-types.js';
import { badParameter } from './errors.js';
import type { QueryParams } from './query-params.js';

const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'ndjson'];

/**
 * How long an export waits for its client to read on: past it the source is stopped (a table as of a time gives back
 * the connection its COPY holds) and the download ends in an error. A client that stops reading (a paused download,
 * a slow reader on purpose) would otherwise hold a connection of the admin's pool for as long as it likes.
 */
export const EXPORT_STALL_MS = 60_000;

/** The export's `format` parameter, which every export requires. */
export function requiredExportFormat<Name extends string>(params: QueryParams<Name | 'format'>): ExportFormat {
  const format = params.oneOf('format', EXPORT_FORMATS);
  if (format === undefined) throw badParameter('format', `is required: ${EXPORT_FORMATS.join(' or ')}`);
  return format;
}

/**
 * A streamed attachment of `lines`, whose first chunk the route has already read (so that a failure before it is
 * still an error status; it may hold no line: see exportFile). `fileName` has no extension: the format's is added. `stop`, if given, is called when the
 * body is closed while a line is being read, for a source whose next line may be long in coming (see afterFirst).
 */
export function exportResponse(
  format: ExportFormat,
  fileName: string,
  first: IteratorResult<string>,
  lines: AsyncIterator<string>,
  stop?: () => void,
  stallMs = EXPORT_STALL_MS,
): AdminResponse {
  return {
    status: 200,
    headers: withCommonHeaders({
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${fileName}.${format}"`,
      'cache-control': 'no-store',
    }),
    body: afterFirst(first, lines, stop, stallMs),
  };
}

/**
 * `first`, then the rest of `lines`. Its `return()` stops `lines` whenever it comes, even before the first read: a
 * client that leaves before the body is read (its stream is destroyed unread) and a HEAD request (the route table
 * closes the body) must give the source's connection back too, and a generator's `return()` before its first
 * `next()` runs no `finally`. A generator's `return()` also waits for a `next()` in progress: `stop` ends that one
 * first (a client that leaves while the server is still making the rows). Only then: a source stopped between
 * reads has nothing running to end. A client that reads nothing for `stallMs` gets the same, and its next read an
 * error (the adapters then end the download unfinished, so it is not taken for a whole file).
 */
function afterFirst(
  first: IteratorResult<string>,
  lines: AsyncIterator<string>,
  stop: (() => void) | undefined,
  stallMs: number,
): AsyncIterableIterator<string> {
  let pending: IteratorResult<string> | undefined = first;
  let reading = false;
  let stalled = false;
  let waiting: NodeJS.Timeout | undefined;
  const waitForTheClient = (result: IteratorResult<string>): IteratorResult<string> => {
    if (!result.done) {
      waiting = setTimeout(() => {
        stalled = true;
        void lines.return?.(undefined);
      }, stallMs).unref();
    }
    return result;
  };
  const body: AsyncIterableIterator<string> = {
    [Symbol.asyncIterator]: () => body,
    async next() {
      clearTimeout(waiting);
      if (stalled) throw new Error(`export stopped: the client read nothing for ${stallMs / 1000} s`);
      if (pending !== undefined) {
        const next = pending;
        if (!next.done) pending = undefined;
        return waitForTheClient(next);
      }
      reading = true;
      try {
        return waitForTheClient(await lines.next());
      } finally {
        reading = false;
      }
    },
    async return() {
      clearTimeout(waiting);
      const done: IteratorResult<string> = { done: true, value: undefined };
      pending = done;
      // A client that goes away stops the source too (the keyset loop, or the COPY, whose connection is discarded).
      if (reading) stop?.();
      await lines.return?.(undefined);
      return done;
    },
  };
  return body;
}

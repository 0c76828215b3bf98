import type { AdminResponse } from './admin-http.js';
import { withCommonHeaders } from './admin-http.js';
import type { ExportFormat } from './api-types.js';
import { badParameter } from './errors.js';
import type { QueryParams } from './query-params.js';

const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'ndjson'];

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
): AdminResponse {
  return {
    status: 200,
    headers: withCommonHeaders({
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${fileName}.${format}"`,
      'cache-control': 'no-store',
    }),
    body: afterFirst(first, lines, stop),
  };
}

/**
 * `first`, then the rest of `lines`. Its `return()` stops `lines` whenever it comes, even before the first read: a
 * client that leaves before the body is read (its stream is destroyed unread) and a HEAD request (the route table
 * closes the body) must give the source's connection back too, and a generator's `return()` before its first
 * `next()` runs no `finally`. A generator's `return()` also waits for a `next()` in progress: `stop` ends that one
 * first (a client that leaves while the server is still making the rows). Only then: a source stopped between
 * reads has nothing running to end.
 */
function afterFirst(
  first: IteratorResult<string>,
  lines: AsyncIterator<string>,
  stop: (() => void) | undefined,
): AsyncIterableIterator<string> {
  let pending: IteratorResult<string> | undefined = first;
  let reading = false;
  const body: AsyncIterableIterator<string> = {
    [Symbol.asyncIterator]: () => body,
    async next() {
      if (pending !== undefined) {
        const next = pending;
        if (!next.done) pending = undefined;
        return next;
      }
      reading = true;
      try {
        return await lines.next();
      } finally {
        reading = false;
      }
    },
    async return() {
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

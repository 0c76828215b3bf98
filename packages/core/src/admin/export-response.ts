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
 * A streamed attachment of `lines`, whose first line the route has already read (so that a failure before it is
 * still an error status). `fileName` has no extension: the format's is added.
 */
export function exportResponse(
  format: ExportFormat,
  fileName: string,
  first: IteratorResult<string>,
  lines: AsyncIterator<string>,
): AdminResponse {
  async function* body(): AsyncGenerator<string> {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await lines.next(); !next.done; next = await lines.next()) yield next.value;
    } finally {
      // A client that goes away stops the source too (the keyset loop, or the COPY, whose connection is discarded).
      await lines.return?.(undefined);
    }
  }
  return {
    status: 200,
    headers: withCommonHeaders({
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="${fileName}.${format}"`,
      'cache-control': 'no-store',
    }),
    body: body(),
  };
}

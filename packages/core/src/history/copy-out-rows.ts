import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

/**
 * Runs `sql` (a `COPY … TO STDOUT` in text format) on `client` and yields its rows as arrays of fields (NULL as
 * null), one row at a time. See copyOutRowBatches, which it reads.
 */
export async function* copyOutRows(
  client: pg.ClientBase,
  sql: string,
  options: { drain: boolean },
): AsyncGenerator<(string | null)[]> {
  for await (const batch of copyOutRowBatches(client, sql, options)) yield* batch;
}

/**
 * Runs `sql` (a `COPY … TO STDOUT` in text format) on `client` and yields its rows as arrays of fields (NULL as
 * null), in batches: the whole rows of each chunk the server sent (a consumer of a million rows then pays for an
 * asynchronous step per chunk, not per row: the promises of one per row cost as much as parsing the rows). The
 * stream is read only as fast as the consumer asks, so memory stays flat however many rows there are: pg-copy-streams
 * pauses the connection while its buffer is full. When the consumer stops early, `drain` reads the rest of the COPY
 * and drops it (the client stays usable); otherwise the stream is destroyed mid-COPY and the caller must discard
 * the connection.
 */
export async function* copyOutRowBatches(
  client: pg.ClientBase,
  sql: string,
  { drain }: { drain: boolean },
): AsyncGenerator<(string | null)[][]> {
  const chunks = (client.query(copyTo(sql)) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let done = false;
  try {
    let pending: Buffer | undefined;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      const data = pending ? Buffer.concat([pending, next.value]) : next.value;
      const batch: (string | null)[][] = [];
      let start = 0;
      // A newline byte is never part of a multi-byte UTF-8 character, so lines split on bytes are whole characters.
      for (let end = data.indexOf(10, start); end !== -1; end = data.indexOf(10, start)) {
        batch.push(data.toString('utf8', start, end).split('\t').map(copyField));
        start = end + 1;
      }
      pending = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
      if (batch.length > 0) yield batch;
    }
    done = true;
    if (pending) throw new Error('auditrum: the COPY output ended in the middle of a row');
  } finally {
    if (!done && drain) {
      while (!(await chunks.next()).done);
    } else if (!done) {
      await chunks.return?.();
    }
  }
}

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

// One field of COPY's text format: \N is NULL; a backslash escapes the next character (\t, \n, …, an octal or a
// \x hex byte, or itself).
function copyField(field: string): string | null {
  if (field === '\\N') return null;
  if (!field.includes('\\')) return field;
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, escaped: string) => {
    if (escaped.length > 1 || /[0-7]/.test(escaped)) {
      const code = escaped.startsWith('x') ? Number.parseInt(escaped.slice(1), 16) : Number.parseInt(escaped, 8);
      return String.fromCharCode(code);
    }
    return ESCAPES[escaped] ?? escaped;
  });
}

import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

/**
 * Runs `sql` (a `COPY … TO STDOUT` in text format) on `client` and yields its rows as arrays of fields (NULL as
 * null), one row at a time. The stream is read only as fast as the consumer asks, so memory stays flat however
 * many rows there are: pg-copy-streams pauses the connection while its buffer is full.
 */
export async function* copyOutRows(client: pg.ClientBase, sql: string): AsyncGenerator<(string | null)[]> {
  const stream = client.query(copyTo(sql));
  let pending: Buffer | undefined;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let data = pending ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    // A newline byte is never part of a multi-byte UTF-8 character, so lines split on bytes are whole characters.
    for (let end = data.indexOf(10, start); end !== -1; end = data.indexOf(10, start)) {
      yield data.toString('utf8', start, end).split('\t').map(copyField);
      start = end + 1;
    }
    data = data.subarray(start);
    pending = data.length > 0 ? Buffer.from(data) : undefined;
  }
  if (pending) throw new Error('auditrum: the COPY output ended in the middle of a row');
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

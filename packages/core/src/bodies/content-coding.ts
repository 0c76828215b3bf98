import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

type Decoder = (bytes: Buffer, options: { maxOutputLength: number }) => Buffer;

// The codings body parsers undo (body-parser, co-body), by their Content-Encoding names.
const DECODERS: Record<string, Decoder> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

/** The content codings a Content-Encoding header names, in the order they were applied; none for `identity`. */
export function contentCodings(header: unknown): string[] {
  if (header === undefined || header === null) return [];
  return String(header)
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/**
 * A body's bytes with its content codings undone, as the app's body parser reads them; `cannot-decode` when a coding is
 * one zlib does not know or the body decodes to more than `limit` bytes (a few kilobytes of gzip can decode to
 * gigabytes); `not-encoded` when the bytes are not encoded as the header says (a compression middleware outside the
 * tap set the header on a body it had not compressed yet, or the app read the body as text and it was lost).
 */
export function decodedBody(
  bytes: Buffer,
  codings: readonly string[],
  limit: number,
): Buffer | 'cannot-decode' | 'not-encoded' {
  let decoded = bytes;
  for (const coding of codings.toReversed()) {
    const decode = DECODERS[coding];
    if (decode === undefined) return 'cannot-decode';
    try {
      decoded = decode(decoded, { maxOutputLength: limit });
    } catch (error) {
      return error instanceof RangeError ? 'cannot-decode' : 'not-encoded';
    }
  }
  return decoded;
}

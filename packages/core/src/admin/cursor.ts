import { badParameter } from './errors.js';

/** Which list a cursor belongs to, so a requests cursor given to the changes list is refused, not misread. */
export type CursorKind = 'changes' | 'requests' | 'history' | 'deleted' | 'erasures' | 'field-history';

const PREFIX: Record<CursorKind, string> = {
  changes: 'c',
  requests: 'r',
  history: 'h',
  deleted: 'd',
  erasures: 'e',
  'field-history': 'f',
};
const BIGINT_MAX = 9223372036854775807n;

/** The opaque cursor after the row with this id (keyset pagination: the next page has smaller ids). */
export function encodeCursor(kind: CursorKind, lastId: string): string {
  return Buffer.from(`${PREFIX[kind]}:${lastId}`, 'utf8').toString('base64url');
}

/** The last id a cursor encodes; 400 `cursor` for anything this module did not produce. */
export function decodeCursor(kind: CursorKind, cursor: string): string {
  const invalid = () => badParameter('cursor', 'not a cursor of this list; pass nextCursor of the previous page as is');
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) throw invalid();
  const match = /^([crhdef]):(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || match[1] !== PREFIX[kind] || BigInt(match[2] as string) > BIGINT_MAX) throw invalid();
  // Base64 decoding ignores stray bits; only the canonical spelling is accepted.
  if (encodeCursor(kind, match[2] as string) !== cursor) throw invalid();
  return match[2] as string;
}

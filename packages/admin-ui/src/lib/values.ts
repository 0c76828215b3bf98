import type { BodyMarker } from '@auditrum/core/admin';

/** A JSON object: not an array, nor an instance of a class (the UI's own markers, TooLargeValue, ErasedValue…). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A stored value as one line of text: strings as they are, everything else as JSON. */
export function formatValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

/** Shortens a one-line text to `max` characters with an ellipsis. */
export function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => key in b && deepEqual(a[key], b[key]));
  }
  return false;
}

/** Bodies that were not stored as-is carry a marker object: `{"$auditrum": "truncated", ...}`. */
export function isBodyMarker(value: unknown): value is BodyMarker {
  return (
    isPlainObject(value) &&
    typeof value.$auditrum === 'string' &&
    ['truncated', 'binary', 'stream', 'invalid-json'].includes(value.$auditrum)
  );
}

/** Describes a body marker in words. */
export function describeMarker(marker: BodyMarker): string {
  const bytes = typeof marker.bytes === 'number' ? `${marker.bytes.toLocaleString('en')} bytes` : null;
  switch (marker.$auditrum) {
    case 'truncated':
      return `Truncated${bytes ? ` (${bytes})` : ''}: only the beginning was stored.`;
    case 'binary':
      if (typeof marker.contentEncoding === 'string') {
        return `Compressed body (${marker.contentEncoding})${bytes ? `, ${bytes} as sent` : ''}: not stored, as it could not be decoded within the size limit.`;
      }
      return `Binary body${typeof marker.contentType === 'string' ? ` of type ${marker.contentType}` : ''}${bytes ? `, ${bytes}` : ''}: not stored.`;
    case 'stream':
      return 'Streamed body: not stored.';
    case 'invalid-json':
      return 'Declared as JSON but not valid JSON: only the beginning was stored.';
  }
}

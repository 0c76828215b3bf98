import type { OversizedValue } from '@auditrum/core/admin';
import { isPlainObject } from './values.ts';

/**
 * A value that was too large to keep (over its table's size limit): only its size and SHA-256 were stored. A class
 * of the UI's own, so that nothing else (a json column holding an object of the same shape) is shown as one.
 */
export class TooLargeValue {
  constructor(
    readonly bytes: number,
    readonly sha256: string,
  ) {}
}

/** `values` with the markers of the listed columns (the API says which) turned into TooLargeValue. */
export function withTooLargeValues(
  values: Record<string, unknown> | null,
  columns: readonly string[] | undefined,
): Record<string, unknown> | null {
  if (values === null || !columns || columns.length === 0) return values;
  const result = { ...values };
  for (const column of columns) {
    const marker = result[column];
    if (isPlainObject(marker) && marker.$auditrum === 'oversized') {
      const { bytes, sha256 } = marker as unknown as OversizedValue;
      result[column] = new TooLargeValue(Number(bytes), String(sha256));
    }
  }
  return result;
}

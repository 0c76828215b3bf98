import type { ChangeErasuresResponse, ErasureEvent } from '@auditrum/core/admin';

/**
 * A value an erasure replaced with its marker (GDPR art. 17): shown as erased, with the erasures that touched its
 * change, never as the marker's text. A class of the UI's own, as TooLargeValue, so that the same text in a change no
 * erasure touched stays the value it is.
 */
export class ErasedValue {
  constructor(readonly erasures: readonly ErasureEvent[]) {}
}

/** What the server says of one change's erasures; null while unknown or when none touched it. */
export type ChangeErasure = ChangeErasuresResponse;

/** Whether `value` is an erased value of a change that `erasure` says was erased. */
export function isErased(value: unknown, erasure: ChangeErasure | null): boolean {
  return erasure !== null && erasure.erasures.length > 0 && value === erasure.marker;
}

/**
 * `values` with the columns the API lists as erased (Change.erased, RowVersion.erased: null in the values, never the
 * marker) as one ErasedValue, with the erasures that touched the change when they are known.
 */
export function withErasedColumns(
  values: Record<string, unknown> | null,
  columns: readonly string[] | undefined,
  erasure: ChangeErasure | null,
): Record<string, unknown> | null {
  if (values === null || !columns || columns.length === 0) return values;
  // One instance per record, as below.
  const erased = new ErasedValue(erasure?.erasures ?? []);
  return { ...values, ...Object.fromEntries(columns.map((column) => [column, erased])) };
}

/**
 * `values` (a change's context) with each top-level value that holds the marker turned into one ErasedValue (one
 * per record).
 */
export function withErasedValues(
  values: Record<string, unknown> | null,
  erasure: ChangeErasure | null,
): Record<string, unknown> | null {
  if (values === null || erasure === null || erasure.erasures.length === 0) return values;
  if (!Object.values(values).some((value) => value === erasure.marker)) return values;
  // One instance per record: the unchanged fields a diff takes from one state are the same object and compare equal,
  // while the old and the new value of a changed column are two (diff compares a class's instances by identity).
  const erased = new ErasedValue(erasure.erasures);
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, value === erasure.marker ? erased : value]),
  );
}

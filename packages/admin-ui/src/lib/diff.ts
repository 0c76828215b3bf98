import { deepEqual, isPlainObject } from './values.ts';

export type DiffKind = 'changed' | 'added' | 'removed' | 'unchanged';

/** One key of a structural diff; `children` diff two objects key by key. */
export interface DiffEntry {
  key: string;
  kind: DiffKind;
  before?: unknown;
  after?: unknown;
  children?: DiffEntry[];
}

/**
 * Compares two records key by key, descending into nested objects (JSON columns) so that a change deep
 * inside one is marked where it happened. Keys keep the order of `after`, then those only in `before`.
 */
export function diffRecords(
  before: Record<string, unknown> | null | undefined,
  after: Record<string, unknown> | null | undefined,
): DiffEntry[] {
  const old = before ?? {};
  const next = after ?? {};
  const keys = [...new Set([...Object.keys(next), ...Object.keys(old)])];
  return keys.map((key): DiffEntry => {
    const inBefore = before != null && Object.hasOwn(old, key);
    const inAfter = after != null && Object.hasOwn(next, key);
    if (!inBefore) return { key, kind: 'added', after: next[key] };
    if (!inAfter) return { key, kind: 'removed', before: old[key] };
    const [a, b] = [old[key], next[key]];
    if (deepEqual(a, b)) return { key, kind: 'unchanged', before: a, after: b };
    if (isPlainObject(a) && isPlainObject(b))
      return { key, kind: 'changed', before: a, after: b, children: diffRecords(a, b) };
    return { key, kind: 'changed', before: a, after: b };
  });
}

/** One line of a line-by-line text diff. */
export interface LineChange {
  kind: 'same' | 'removed' | 'added';
  text: string;
}

/** Past this many lines on a side, the texts are not diffed (the table would grow with the square). */
export const MAX_DIFF_LINES = 2000;

/**
 * The lines of `before` and `after` as removed, added and unchanged, in order: a longest common subsequence of
 * lines, so that a change in a long text is found where it happened. Null when a side has too many lines.
 */
export function diffLines(before: string, after: string): LineChange[] | null {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > MAX_DIFF_LINES || b.length > MAX_DIFF_LINES) return null;
  // common[i][j]: the length of the longest common subsequence of a[i..] and b[j..].
  const common = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = common[i] as Uint16Array;
      row[j] =
        a[i] === b[j]
          ? ((common[i + 1] as Uint16Array)[j + 1] as number) + 1
          : Math.max((common[i + 1] as Uint16Array)[j] as number, row[j + 1] as number);
    }
  }
  const lines: LineChange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      lines.push({ kind: 'same', text: a[i] as string });
      i++;
      j++;
    } else if (((common[i + 1] as Uint16Array)[j] as number) >= ((common[i] as Uint16Array)[j + 1] as number)) {
      lines.push({ kind: 'removed', text: a[i++] as string });
    } else {
      lines.push({ kind: 'added', text: b[j++] as string });
    }
  }
  while (i < a.length) lines.push({ kind: 'removed', text: a[i++] as string });
  while (j < b.length) lines.push({ kind: 'added', text: b[j++] as string });
  return lines;
}

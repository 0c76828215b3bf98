import { useState } from 'react';
import type { LineChange } from '../lib/line-diff.ts';
import { isLongText, LongText } from './LongText.tsx';

/** Unchanged lines kept around each change; longer unchanged runs are folded. */
const CONTEXT = 2;

type Shown = { kind: 'line'; line: LineChange } | { kind: 'folded'; count: number; from: number };

function foldUnchanged(lines: LineChange[], unfolded: ReadonlySet<number>): Shown[] {
  const near = (index: number) =>
    lines.slice(Math.max(0, index - CONTEXT), index + CONTEXT + 1).some((line) => line.kind !== 'same');
  const shown: Shown[] = [];
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as LineChange;
    if (line.kind !== 'same' || near(index)) {
      shown.push({ kind: 'line', line });
      continue;
    }
    let end = index;
    while (end + 1 < lines.length && lines[end + 1]?.kind === 'same' && !near(end + 1)) end++;
    if (unfolded.has(index)) {
      for (let k = index; k <= end; k++) shown.push({ kind: 'line', line: lines[k] as LineChange });
    } else {
      shown.push({ kind: 'folded', count: end - index + 1, from: index });
    }
    index = end;
  }
  return shown;
}

const MARK: Record<LineChange['kind'], string> = { same: ' ', removed: '−', added: '+' };

/**
 * A long or multi-line text's change, line by line: removed and added lines marked (in words for screen readers, and
 * by sign, not only colour), unchanged runs away from a change folded behind a button each, a long line clipped.
 */
export function TextDiff({ lines }: { lines: LineChange[] }) {
  const [unfolded, setUnfolded] = useState<ReadonlySet<number>>(new Set());
  return (
    <div className="text-diff">
      {foldUnchanged(lines, unfolded).map((item, index) =>
        item.kind === 'folded' ? (
          <button
            key={index}
            type="button"
            className="link-button text-diff-fold"
            onClick={() => setUnfolded((set) => new Set([...set, item.from]))}
          >
            Show {item.count} unchanged {item.count === 1 ? 'line' : 'lines'}
          </button>
        ) : (
          <div key={index} className={`text-diff-line text-diff-${item.line.kind}`}>
            <span className="text-diff-mark" aria-hidden="true">
              {MARK[item.line.kind]}
            </span>
            {item.line.kind !== 'same' && <span className="visually-hidden">{item.line.kind}: </span>}
            {isLongText(item.line.text) ? <LongText text={item.line.text} /> : item.line.text || ' '}
          </div>
        ),
      )}
    </div>
  );
}

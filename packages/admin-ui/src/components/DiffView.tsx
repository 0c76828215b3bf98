import { useId, useState } from 'react';
import type { DiffEntry, DiffKind } from '../lib/diff.ts';
import type { LineChange } from '../lib/line-diff.ts';
import { diffLines } from '../lib/line-diff.ts';
import { isLongText } from './LongText.tsx';
import { TextDiff } from './TextDiff.tsx';
import { ValueView } from './ValueView.tsx';

const KIND_LABEL: Record<DiffKind, string> = {
  changed: 'changed',
  added: 'added',
  removed: 'removed',
  unchanged: 'unchanged',
};

/**
 * A structural diff: one line per key with its value before and after. Changed, added and removed keys are
 * marked (in words too, not only by colour); unchanged keys are folded behind a toggle; a changed nested
 * object shows its own diff, so a change deep inside a JSON column is found where it happened. A whole row
 * added (INSERT) or removed (DELETE) has a single column of values.
 */
export function DiffView({
  entries,
  caption,
  nested = false,
}: {
  entries: DiffEntry[];
  caption?: string;
  /**
   * Inside a changed JSON value: no header row of its own (the outer one names Before and After), and strings
   * always quoted, as JSON writes them (`"8010"` and `"Graz"` alike).
   */
  nested?: boolean;
}) {
  const [showUnchanged, setShowUnchanged] = useState(false);
  const bodyId = useId();
  const unchanged = entries.filter((entry) => entry.kind === 'unchanged').length;
  const shown = showUnchanged ? entries : entries.filter((entry) => entry.kind !== 'unchanged');
  if (entries.length === 0) return <p className="muted">No recorded values.</p>;
  // A whole row added or removed has one column of values; inside a JSON value, Before and After always line up.
  const whole = nested
    ? null
    : entries.every((entry) => entry.kind === 'added')
      ? 'added'
      : entries.every((entry) => entry.kind === 'removed')
        ? 'removed'
        : null;
  return (
    <div className="diff">
      <table className="diff-table">
        {caption && <caption>{caption}</caption>}
        {!nested && (
          <thead>
            <tr>
              <th scope="col">Field</th>
              {whole === null ? (
                <>
                  <th scope="col">Before</th>
                  <th scope="col">After</th>
                </>
              ) : (
                <th scope="col">{whole === 'added' ? 'Value' : 'Value before deletion'}</th>
              )}
            </tr>
          </thead>
        )}
        <tbody id={bodyId}>
          {shown.map((entry) => (
            <DiffRow key={entry.key} entry={entry} whole={whole !== null} json={nested} />
          ))}
        </tbody>
      </table>
      {unchanged > 0 && (
        <button
          type="button"
          className="link-button"
          aria-expanded={showUnchanged}
          aria-controls={bodyId}
          onClick={() => setShowUnchanged((value) => !value)}
        >
          {showUnchanged ? `Hide ${unchanged} unchanged` : `Show ${unchanged} unchanged`}{' '}
          {unchanged === 1 ? 'field' : 'fields'}
        </button>
      )}
    </div>
  );
}

/** Two texts, one of them long or on several lines: diffed line by line (null otherwise, or when too long). */
function linesOfTextChange(before: unknown, after: unknown): LineChange[] | null {
  if (typeof before !== 'string' || typeof after !== 'string') return null;
  if (!before.includes('\n') && !after.includes('\n') && !isLongText(before) && !isLongText(after)) return null;
  return diffLines(before, after);
}

function DiffRow({ entry, whole, json }: { entry: DiffEntry; whole: boolean; json: boolean }) {
  const quote = json ? 'always' : true;
  const textLines = entry.kind === 'changed' && !whole ? linesOfTextChange(entry.before, entry.after) : null;
  return (
    <tr className={`diff-row diff-${entry.kind}`} data-kind={entry.kind}>
      <th scope="row" className="diff-key">
        <span className="diff-marker" aria-hidden="true">
          {entry.kind === 'changed' ? '~' : entry.kind === 'added' ? '+' : entry.kind === 'removed' ? '−' : ' '}
        </span>
        {entry.key}
        {entry.kind !== 'unchanged' && !whole && <span className="badge">{KIND_LABEL[entry.kind]}</span>}
      </th>
      {whole ? (
        <td className={entry.kind === 'added' ? 'diff-after' : 'diff-before'}>
          <ValueView value={entry.kind === 'added' ? entry.after : entry.before} quoteStrings={quote} />
        </td>
      ) : textLines ? (
        <td colSpan={2} className="diff-text">
          <TextDiff lines={textLines} />
        </td>
      ) : entry.children ? (
        <td colSpan={2} className="diff-nested">
          <DiffView entries={entry.children} nested />
        </td>
      ) : (
        <>
          <td className="diff-before">
            {entry.kind === 'added' ? (
              <span className="muted">—</span>
            ) : (
              <ValueView value={entry.before} quoteStrings={quote} />
            )}
          </td>
          <td className="diff-after">
            {entry.kind === 'removed' ? (
              <span className="muted">—</span>
            ) : (
              <ValueView value={entry.after} quoteStrings={quote} />
            )}
          </td>
        </>
      )}
    </tr>
  );
}

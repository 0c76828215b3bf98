import { useState } from 'react';

/** Past this many characters or lines a text is clipped, with "Show all". */
export const CLIP_CHARS = 400;
export const CLIP_LINES = 8;

/** Whether a text is long enough to be clipped. */
export function isLongText(text: string): boolean {
  return text.length > CLIP_CHARS || text.split('\n').length > CLIP_LINES;
}

/** A long text, clipped to its beginning until the user asks for all of it (a 2,400-character note stays short). */
export function LongText({ text }: { text: string }) {
  const [all, setAll] = useState(false);
  const lines = text.split('\n');
  const clipped = lines.length > CLIP_LINES ? lines.slice(0, CLIP_LINES).join('\n') : text;
  const shown = all ? text : clipped.slice(0, CLIP_CHARS);
  return (
    <span className="value value-string long-text">
      <span className="long-text-body">
        {shown}
        {!all && '…'}
      </span>{' '}
      <button type="button" className="link-button" aria-expanded={all} onClick={() => setAll((value) => !value)}>
        {all ? 'Show less' : `Show all ${text.length.toLocaleString('en')} characters`}
      </button>
    </span>
  );
}

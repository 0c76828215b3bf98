import type { Masker } from './masker.js';

interface Frame {
  kind: 'object' | 'array';
  /** The key being read (object) or the next index (array). */
  key: string;
  index: number;
  expectKey: boolean;
  /** A key was read and no colon yet: a string that follows is its value (`{"password" "x"}`). */
  keyRead: boolean;
}

// A key without quotes, as JavaScript and JSON5 write them (`{password: "x"}`).
const BARE_KEY = /[A-Za-z_$][\w$-]*/y;

/**
 * Masks a JSON text that cannot be parsed: the beginning of one too long to parse (the preview of a truncated
 * body), or one that is not quite JSON (an `invalid-json` body): the value after every sensitive key (or configured
 * path), whether scalar, object or array, becomes the censor, up to the end of the text if the value is cut. What
 * clients send as JSON when it is not is read as leniently: keys and strings in single quotes (`{'password': 'x'}`,
 * Python's repr), keys without quotes (`{password: "x"}`), a missing colon, and `name=value` pairs (form text sent
 * as JSON). The result is text for people to read, not necessarily valid JSON.
 */
export function maskJsonPreview(text: string, masker: Masker): string {
  const out: string[] = [];
  const frames: Frame[] = [];
  let i = 0;
  const n = text.length;

  const path = (): string[] => frames.map((frame) => (frame.kind === 'array' ? String(frame.index) : frame.key));
  const valueIsSensitive = (): boolean => {
    const top = frames.at(-1);
    if (!top) return false;
    if (top.kind === 'object' && masker.isSensitiveKey(top.key)) return true;
    return masker.hasPaths && masker.isSensitivePath(path());
  };
  // At the start of a value (after ':' in an object, ',' in an array): keeps the spaces, and replaces a sensitive
  // object, array or bare literal as a whole (a string is masked when it is read).
  const maskBareValue = (): void => {
    const start = skipSpace(text, i);
    out.push(text.slice(i, start));
    i = start;
    if (i < n && !isQuote(text[i]) && valueIsSensitive()) {
      out.push(JSON.stringify(masker.censor));
      i = valueEnd(text, i);
    }
  };

  while (i < n) {
    const ch = text[i] as string;
    const top = frames.at(-1);
    if (isQuote(ch)) {
      const end = stringEnd(text, i);
      const literal = text.slice(i, end);
      if (top?.kind === 'object' && top.expectKey && !top.keyRead) {
        top.key = decodeKey(literal);
        top.keyRead = true;
        out.push(literal);
      } else {
        // A key's value, after its colon or in place of it.
        if (top?.kind === 'object') top.expectKey = false;
        out.push(valueIsSensitive() ? JSON.stringify(masker.censor) : urlMasked(literal, masker));
      }
      i = end;
      continue;
    }
    if (top?.kind === 'object' && top.expectKey && !top.keyRead) {
      BARE_KEY.lastIndex = i;
      const bare = BARE_KEY.exec(text);
      if (bare) {
        top.key = bare[0];
        top.keyRead = true;
        out.push(bare[0]);
        i += bare[0].length;
        continue;
      }
    }
    if (ch === ':' && top?.kind === 'object') {
      top.expectKey = false;
      out.push(ch);
      i++;
      maskBareValue();
      continue;
    }
    if (ch === ',') {
      if (top?.kind === 'object') {
        top.expectKey = true;
        top.keyRead = false;
      } else if (top?.kind === 'array') top.index++;
      out.push(ch);
      i++;
      if (top?.kind === 'array') maskBareValue();
      continue;
    }
    if (ch === '{' || ch === '[') {
      frames.push({ kind: ch === '{' ? 'object' : 'array', key: '', index: 0, expectKey: ch === '{', keyRead: false });
      out.push(ch);
      i++;
      if (ch === '[') {
        const start = skipSpace(text, i);
        out.push(text.slice(i, start));
        i = start;
        if (i < n && !isQuote(text[i]) && text[i] !== ']' && valueIsSensitive()) {
          out.push(JSON.stringify(masker.censor));
          i = valueEnd(text, i);
        }
      }
      continue;
    }
    if (ch === '}' || ch === ']') frames.pop();
    out.push(ch);
    i++;
  }
  return masker.maskText(out.join(''));
}

function isQuote(ch: string | undefined): boolean {
  return ch === '"' || ch === "'";
}

/** The index just after the string literal starting at `start`, in either quote (or the end of the text if cut). */
function stringEnd(text: string, start: number): number {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '\\') i += 2;
    else if (ch === quote) return i + 1;
    else i++;
  }
  return text.length;
}

/** The index just after the value (scalar, object or array) starting at `start`, or the end of the text. */
function valueEnd(text: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < text.length) {
    const ch = text[i];
    if (isQuote(ch)) {
      i = stringEnd(text, i);
      if (depth === 0) return i;
      continue;
    }
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      if (depth === 0) return i;
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (ch === ',' || ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t')) return i;
    i++;
  }
  return text.length;
}

function skipSpace(text: string, start: number): number {
  let i = start;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

/** A string literal whose value is a URL with secrets, masked (see Masker.maskUrl); any other as it is. */
function urlMasked(literal: string, masker: Masker): string {
  if (!literal.includes('=') && !literal.includes('@')) return literal;
  const value = decodeKey(literal);
  const masked = masker.maskUrl(value);
  return masked === value ? literal : JSON.stringify(masked);
}

function decodeKey(literal: string): string {
  if (literal.startsWith("'")) return literal.slice(1, literal.length > 1 && literal.endsWith("'") ? -1 : undefined);
  try {
    return JSON.parse(literal.endsWith('"') && literal.length > 1 ? literal : `${literal}"`) as string;
  } catch {
    return literal.slice(1);
  }
}

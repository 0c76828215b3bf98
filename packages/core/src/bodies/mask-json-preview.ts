import { cleanText } from './clean-text.js';
import type { Masker } from './masker.js';

interface Frame {
  kind: 'object' | 'array';
  /** The key being read (object) or the next index (array). */
  key: string;
  index: number;
  expectKey: boolean;
}

/**
 * Masks the beginning of a JSON text that is too long to parse (the preview of a truncated body): the value
 * after every sensitive key (or configured path), whether scalar, object or array, becomes the censor, up to
 * the end of the text if the value is cut. The result is text for people to read, not necessarily valid JSON.
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
    if (i < n && text[i] !== '"' && valueIsSensitive()) {
      out.push(JSON.stringify(masker.censor));
      i = valueEnd(text, i);
    }
  };

  while (i < n) {
    const ch = text[i] as string;
    const top = frames.at(-1);
    if (ch === '"') {
      const end = stringEnd(text, i);
      const literal = text.slice(i, end);
      if (top?.kind === 'object' && top.expectKey) {
        top.key = decodeKey(literal);
        out.push(literal);
      } else if (valueIsSensitive()) {
        out.push(JSON.stringify(masker.censor));
      } else {
        out.push(urlMasked(literal, masker));
      }
      i = end;
      continue;
    }
    if (ch === ':' && top?.kind === 'object') {
      top.expectKey = false;
      out.push(ch);
      i++;
      maskBareValue();
      continue;
    }
    if (ch === ',') {
      if (top?.kind === 'object') top.expectKey = true;
      else if (top?.kind === 'array') top.index++;
      out.push(ch);
      i++;
      if (top?.kind === 'array') maskBareValue();
      continue;
    }
    if (ch === '{' || ch === '[') {
      frames.push({ kind: ch === '{' ? 'object' : 'array', key: '', index: 0, expectKey: ch === '{' });
      out.push(ch);
      i++;
      if (ch === '[') {
        const start = skipSpace(text, i);
        out.push(text.slice(i, start));
        i = start;
        if (i < n && text[i] !== '"' && text[i] !== ']' && valueIsSensitive()) {
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
  return cleanText(out.join(''));
}

/** The index just after the string literal starting at `start` (or the end of the text if it is cut). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '\\') i += 2;
    else if (ch === '"') return i + 1;
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
    if (ch === '"') {
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
  try {
    return JSON.parse(literal.endsWith('"') && literal.length > 1 ? literal : `${literal}"`) as string;
  } catch {
    return literal.slice(1);
  }
}

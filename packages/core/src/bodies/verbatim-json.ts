import { mayHoldJwt } from './bearer-tokens.js';
import type { Masker } from './masker.js';
import { MAX_JSON_DEPTH } from './masker.js';
import { mayHoldUrlSecret } from './url-secrets.js';

const QUOTE = 0x22;
const COLON = 0x3a;
const EQUALS = 0x3d;
const AT = 0x40;
const MAX_NUMBER_LENGTH = 1000;

/**
 * Whether a JSON body can be stored as it came, skipping the parse, masked copy and serialisation: most bodies
 * (lists, records without credentials) can, and then are kept exactly, big numbers included.
 *
 * It can when the masking would change nothing and PostgreSQL's jsonb takes the text as it is:
 * - no backslash: every key and string is then written literally (and there is no `\u0000` or lone-surrogate
 *   escape, which jsonb refuses, nor JSON inside a string, which masking reads);
 * - no configured path, no sensitive key (each key is asked, as masking would ask it), no string that is a
 *   URL with parameters or user info, and no `eyJ` that may start a JWT (masking reads those);
 * - no exponent in a number, and no number longer than MAX_NUMBER_LENGTH characters (jsonb's numeric refuses
 *   `1e999999` and more than 16,383 decimals; the masked copy would store a double);
 * - nesting within MAX_JSON_DEPTH, as the masked copy would keep it;
 * - and it parses (an invalid body gets the `invalid-json` marker instead).
 */
export function isVerbatimJson(text: string, masker: Masker): boolean {
  if (masker.hasPaths || text.indexOf('\\') !== -1 || mayHoldJwt(text)) return false;
  let depth = 0;
  let inString = false;
  let stringStart = 0;
  // The string holds a character a URL's secret needs.
  let urlMark = false;
  let previous = 0;
  let numberLength = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === QUOTE) {
        inString = false;
        if (isKey(text, i + 1)) {
          if (masker.isSensitiveKey(text.slice(stringStart, i))) return false;
        } else if (urlMark && mayHoldUrlSecret(text.slice(stringStart, i))) {
          return false;
        }
      } else if (code === EQUALS || code === AT) {
        urlMark = true;
      }
    } else if (code === QUOTE) {
      inString = true;
      stringStart = i + 1;
      urlMark = false;
    } else if (code === 0x7b || code === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) return false;
    } else if (code === 0x7d || code === 0x5d) {
      depth -= 1;
    } else if ((code === 0x65 || code === 0x45) && ((previous >= 0x30 && previous <= 0x39) || previous === 0x2e)) {
      return false;
    }
    if (!inString && ((code >= 0x30 && code <= 0x39) || code === 0x2e || code === 0x2d)) {
      if (++numberLength > MAX_NUMBER_LENGTH) return false;
    } else {
      numberLength = 0;
    }
    previous = code;
  }
  if (inString || depth !== 0) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Whether the string that ended just before `index` is a key: the next character after spaces is a colon. */
function isKey(text: string, index: number): boolean {
  let i = index;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) return code === COLON;
    i++;
  }
  return false;
}

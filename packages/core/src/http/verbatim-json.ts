import type { Masker } from './masker.js';
import { MAX_JSON_DEPTH } from './masker.js';

const QUOTE = 0x22;
const MAX_NUMBER_LENGTH = 1000;

/**
 * Whether a JSON body can be stored as it came, skipping the parse, masked copy and serialisation: most bodies
 * (lists, records without credentials) can, and then are kept exactly, big numbers included.
 *
 * It can when the masking would change nothing and PostgreSQL's jsonb takes the text as it is:
 * - no backslash: every key and string is then written literally, so `masker.mayMask()` sees any key a
 *   sensitive one could be, and there is no `\u0000` or lone-surrogate escape (jsonb refuses both);
 * - no exponent in a number, and no number longer than MAX_NUMBER_LENGTH characters (jsonb's numeric refuses
 *   `1e999999` and more than 16,383 decimals; the masked copy would store a double);
 * - nesting within MAX_JSON_DEPTH, as the masked copy would keep it;
 * - and it parses (an invalid body gets the `invalid-json` marker instead).
 */
export function isVerbatimJson(text: string, masker: Masker): boolean {
  if (text.indexOf('\\') !== -1 || masker.mayMask(text)) return false;
  let depth = 0;
  let inString = false;
  let previous = 0;
  let numberLength = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === QUOTE) inString = false;
    } else if (code === QUOTE) {
      inString = true;
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

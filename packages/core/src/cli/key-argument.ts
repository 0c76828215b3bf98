import type { RowKeyInput } from '../history/history-types.js';
import { UsageError } from './usage-error.js';

/** The help of a row key argument, as keyArgument reads it. */
export const KEY_HELP = 'a value, or JSON for a composite key (["a",1] or {"shop":"a","sku":1})';

/**
 * A row key given on the command line: JSON when it is an array or an object (a composite key), the text itself
 * otherwise (read as the key column's type by the database: `42`, `007`, `A-1`).
 */
export function keyArgument(text: string): RowKeyInput {
  if (!/^\s*[[{]/.test(text)) return text;
  try {
    return JSON.parse(text) as RowKeyInput;
  } catch (error) {
    throw new UsageError(`the key ${text} is not valid JSON: ${(error as Error).message}`);
  }
}

import type { RowKeyInput } from '../history/history-types.js';
import { UsageError } from './usage-error.js';

/** A row key on the command line: JSON when it is an array or an object (a composite key), the text itself otherwise. */
export function keyArgument(text: string): RowKeyInput {
  if (!/^\s*[[{]/.test(text)) return text;
  try {
    return JSON.parse(text) as RowKeyInput;
  } catch (error) {
    throw new UsageError(`the key ${text} is not valid JSON: ${(error as Error).message}`);
  }
}

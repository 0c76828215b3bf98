import type { KeyValue, RowKeyInput } from './history-types.js';

function isKeyValue(value: unknown): value is KeyValue {
  return (
    typeof value === 'string' ||
    typeof value === 'bigint' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

// A bigint is sent as its digits: JSON has no bigint, and the key column's type reads the text.
function keyValueJson(value: KeyValue): string | number | boolean {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * Checks a row key as a user gives it and returns its JSON for `auditrum.row_key(table, key)`, which reads each
 * value as its column's type and knows how many columns the key has. `what` names the argument in the error.
 */
export function rowKeyJson(key: RowKeyInput, what = 'key'): string {
  const shape = `give a value, an array of values or an object of key column values (strings, numbers or booleans)`;
  if (isKeyValue(key)) return JSON.stringify(keyValueJson(key));
  if (Array.isArray(key)) {
    if (key.length === 0 || !key.every(isKeyValue)) {
      throw new Error(`auditrum: the ${what} ${describe(key)} is not a row key: ${shape}`);
    }
    return JSON.stringify(key.map(keyValueJson));
  }
  if (key !== null && typeof key === 'object') {
    const entries = Object.entries(key);
    if (entries.length === 0 || !entries.every(([, value]) => isKeyValue(value))) {
      throw new Error(`auditrum: the ${what} ${describe(key)} is not a row key: ${shape}`);
    }
    return JSON.stringify(Object.fromEntries(entries.map(([name, value]) => [name, keyValueJson(value as KeyValue)])));
  }
  throw new Error(`auditrum: the ${what} ${describe(key)} is not a row key: ${shape}`);
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value, (_, item) => (typeof item === 'bigint' ? item.toString() : item)) ?? String(value);
  } catch {
    return String(value);
  }
}

import { isPlainObject } from '../lib/values.ts';

/** Past this many lines of indented JSON, a node folds (a long array no longer makes the page tall). */
export const FOLD_LINES = 12;

const lineCount = (value: unknown) => (JSON.stringify(value, null, 2) ?? '').split('\n').length;

function describe(value: unknown[] | Record<string, unknown>): string {
  if (Array.isArray(value)) return `[ ${value.length} ${value.length === 1 ? 'item' : 'items'} ]`;
  const keys = Object.keys(value).length;
  return `{ ${keys} ${keys === 1 ? 'key' : 'keys'} }`;
}

/**
 * A JSON value as indented JSON; a large object or array folds into a summary (`[ 80 items ]`) that opens to its
 * members, each folding again when large, so a change page stays short however big a JSON column is.
 */
export function JsonTree({ value }: { value: unknown }) {
  if ((!Array.isArray(value) && !isPlainObject(value)) || lineCount(value) <= FOLD_LINES) {
    return <pre className="value json">{JSON.stringify(value, null, 2)}</pre>;
  }
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [String(index), item])
    : Object.entries(value);
  return (
    <details className="value json-node">
      <summary className="json">{describe(value)}</summary>
      <ul className="json-members">
        {entries.map(([key, member]) => (
          <li key={key}>
            <span className="json-key">{Array.isArray(value) ? `${key}:` : `${JSON.stringify(key)}:`}</span>{' '}
            <JsonTree value={member} />
          </li>
        ))}
      </ul>
    </details>
  );
}

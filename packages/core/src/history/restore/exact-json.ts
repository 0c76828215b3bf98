type ExactReviver = (key: string, value: unknown, context: { source?: string }) => unknown;
const { rawJSON } = JSON as unknown as { rawJSON: (text: string) => unknown };

/**
 * JSON.parse that keeps every number's digits: a number that a double does not hold as written (1.50 of a numeric
 * column, an integer over 2^53, 1e400) becomes JSON.rawJSON of its source, so JSON.stringify writes the same digits
 * back. Values written to a table go through this; the plain parse would round them (numeric 1.50 came back 1.5).
 */
export function parseExact(text: string): unknown {
  const reviver: ExactReviver = (_key, value, context) =>
    typeof value === 'number' && context.source !== undefined && String(value) !== context.source
      ? rawJSON(context.source)
      : value;
  return JSON.parse(text, reviver as (key: string, value: unknown) => unknown);
}

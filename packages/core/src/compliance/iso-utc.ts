/**
 * SQL for a timestamptz expression as the admin API writes times: ISO 8601 in UTC with microseconds
 * (`2026-11-26T10:45:27.542152Z`), whatever the session's TimeZone and DateStyle; NULL stays NULL.
 */
export function isoUtc(expression: string): string {
  return `to_char((${expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

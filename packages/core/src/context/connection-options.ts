/**
 * The audit context as a connection setting: the server option `-c auditrum.context=<JSON>`, which the capture
 * functions read when a statement carries no context comment (migration 15). libpq (psql, pg_dump, drivers built on
 * it) and node-postgres both send the PGOPTIONS environment variable as the startup packet's `options`, so a context
 * put there reaches every connection a process and its children open.
 */

/** The setting the capture functions read. */
export const CONTEXT_SETTING = 'auditrum.context';

/**
 * What PGOPTIONS may hold, in bytes: the server refuses a startup packet over 10,000 bytes, and the packet also
 * carries the user, database, application name and any other parameters.
 */
export const MAX_PGOPTIONS_BYTES = 8192;

/**
 * `value` as one word of an options string: the server splits `options` at white space, and a backslash makes it
 * take the next character as it is (`\ ` for a space, `\\` for a backslash).
 */
export function escapeOptionWord(value: string): string {
  return value.replace(/[\\ \t\n\r\v\f]/g, '\\$&');
}

/** `existing` options (PGOPTIONS as it was, if any) with the context's setting appended: the last `-c` wins. */
export function optionsWithContext(existing: string | undefined, contextJson: string): string {
  const option = `-c ${escapeOptionWord(`${CONTEXT_SETTING}=${contextJson}`)}`;
  return existing === undefined || existing.trim() === '' ? option : `${existing} ${option}`;
}

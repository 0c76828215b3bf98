/**
 * How a named (prepared) statement sent inside an audit context carries the context, for the whole process:
 *
 * - `reparse` (default): like every other statement, with the context comment first in its text. The text changes
 *   with the context, so the name is dropped and PostgreSQL parses and plans the statement at every execution.
 * - `setting`: the name is kept (parsed and planned once per connection) and the context travels as the
 *   transaction-local setting `auditrum.context`, set just before the statement and put back just after it, in the
 *   same round trip (see setting-context-query.ts). Needs schema version 15 or later, whose capture function reads
 *   the setting when a statement carries no comment.
 */
export type PreparedStatementContext = 'reparse' | 'setting';

const MODES: readonly PreparedStatementContext[] = ['reparse', 'setting'];

let mode: PreparedStatementContext = 'reparse';

/** Chooses how named statements carry the audit context from now on (see PreparedStatementContext). */
export function setPreparedStatementContext(value: PreparedStatementContext): void {
  if (!MODES.includes(value)) {
    throw new TypeError(
      `auditrum: preparedStatements must be one of ${MODES.join(', ')}; got ${JSON.stringify(value)}`,
    );
  }
  mode = value;
}

/** Whether named statements keep their name, their context sent as a setting. */
export function keepsStatementNames(): boolean {
  return mode === 'setting';
}

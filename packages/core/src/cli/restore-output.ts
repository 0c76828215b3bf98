import type { PlannedStatement, RestoreResult } from '../history/restore/restore-types.js';
import type { CliContext } from './cli-context.js';
import { printable } from './colors.js';

/** Longest value shown in a diff line; --json has them whole. */
const VALUE_CHARS = 60;

/**
 * A plan as SQL a person can read and run: each statement after comments naming the row, the changes it reverses
 * and its diff, its parameters as comments after it; then what cannot be restored, the conflicts, and the outcome.
 */
export function printRestore(cli: CliContext, result: RestoreResult, json: boolean): void {
  if (json) {
    cli.print(JSON.stringify(result, null, 2));
    return;
  }
  const { plan } = result;
  cli.print(`-- ${plan.operation}: ${plan.statements.length} statement(s)`);
  for (const statement of plan.statements) printStatement(cli, statement);
  for (const item of plan.unrestorable) {
    cli.print(`-- ${item.blocking ? 'cannot restore' : 'note'}: ${printable(item.message)}`);
  }
  for (const conflict of plan.conflicts) {
    cli.print(`-- conflict${conflict.forcible ? '' : ' (force cannot override it)'}: ${printable(conflict.message)}`);
  }
  if (result.applied) {
    const ids =
      result.changeIds.length === 0 ? 'no change recorded' : `recorded as change(s) ${result.changeIds.join(', ')}`;
    cli.print(`-- done: ${ids}; undo it with: auditrum undo --request ${result.requestId ?? '?'}`);
  } else {
    cli.print('-- nothing was changed');
  }
}

function printStatement(cli: CliContext, statement: PlannedStatement): void {
  const reverts =
    statement.reverts.length > 5
      ? `${statement.reverts.slice(0, 5).join(', ')} and ${statement.reverts.length - 5} more`
      : statement.reverts.join(', ');
  cli.print('');
  cli.print(
    `-- ${printable(statement.table)} ${printable(statement.rowKey)}: ${statement.operation}, reverts change(s) ${reverts}`,
  );
  for (const field of statement.diff) {
    const from = 'from' in field ? shown(field.from) : '(no row)';
    const to = 'to' in field ? shown(field.to) : '(deleted)';
    cli.print(`--   ${printable(field.column)}: ${from} → ${to}`);
  }
  cli.print(`${printable(statement.sql)};`);
  statement.params.forEach((param, i) => {
    cli.print(`--   $${i + 1} = ${printable(param)}`);
  });
}

function shown(value: unknown): string {
  const json = printable(JSON.stringify(value) ?? 'null');
  return json.length > VALUE_CHARS ? `${json.slice(0, VALUE_CHARS - 1)}…` : json;
}

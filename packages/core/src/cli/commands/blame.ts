import type { Command } from 'commander';
import { inReadSnapshot } from '../../db/read-snapshot.js';
import type { BlameOptions } from '../../history/blame.js';
import { blame } from '../../history/blame.js';
import type { BlameChange, BlameUnknownReason, FieldBlame, RowBlame } from '../../history/blame-types.js';
import { HistoryInputError } from '../../history/history-input-error.js';
import type { CliContext } from '../cli-context.js';
import type { TextStyle } from '../colors.js';
import { printable, textStyler } from '../colors.js';
import { withDatabase } from '../database.js';
import { EXIT_NOT_FOUND } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { KEY_HELP, keyArgument } from '../key-argument.js';
import { UsageError } from '../usage-error.js';

const UNKNOWN_TEXT: Record<BlameUnknownReason, string> = {
  before_tracking: 'unknown: set before the row was tracked',
  excluded: "unknown: the table's rules leave this column out of the log",
  added_later: "unknown: the column was added after the row's INSERT (its value came from ALTER TABLE)",
  untracked_gap: 'a later change may be missing: the table was not tracked for a while after it',
};

const OPERATION_STYLE: Record<BlameChange['operation'], TextStyle> = {
  INSERT: 'green',
  UPDATE: 'yellow',
  DELETE: 'red',
  TRUNCATE: 'red',
};

/** Longest value shown in text; --json has them whole. */
const VALUE_CHARS = 40;

export function addBlameCommand(program: Command, cli: CliContext): void {
  program
    .command('blame')
    .description('per field of a row, who set its current value: the change, when, who, request, transaction, why')
    .argument('<table>', 'the table (schema.table)')
    .argument('<key>', `the row's key: ${KEY_HELP}`)
    .argument('[field]', 'only this column (its name today)')
    .option('--json', 'print the blame as JSON')
    .action((table: string, key: string, field: string | undefined, options: { json?: boolean }, command: Command) =>
      printBlame(cli, command, { table, key: keyArgument(key), ...(field === undefined ? {} : { field }) }, options),
    );
}

async function printBlame(
  cli: CliContext,
  command: Command,
  request: BlameOptions,
  options: { json?: boolean },
): Promise<void> {
  const { url, schema } = globalOptions(command, cli.io);
  let result: RowBlame;
  try {
    result = await withDatabase(url, async (client, tableInSearchPath) => {
      const table = await tableInSearchPath(request.table);
      return inReadSnapshot(client, (snapshot) => blame(snapshot, schema, { ...request, table }));
    });
  } catch (error) {
    if (!(error instanceof HistoryInputError)) throw error;
    if (error.problem !== 'no_row') throw new UsageError(error.message.replace(/^auditrum: /, ''));
    cli.io.stderr(`${error.message}\n`);
    cli.setExitCode(EXIT_NOT_FOUND);
    return;
  }
  if (options.json) {
    cli.print(JSON.stringify(result, null, 2));
    return;
  }
  cli.io.stdout(blameText(result, textStyler(cli.io.colors)));
}

type Style = ReturnType<typeof textStyler>;
interface Cell {
  text: string;
  style?: TextStyle;
}

/** The blame as a table, one line per field; styled only on a terminal that takes colours. */
export function blameText(result: RowBlame, style: Style): string {
  const header: Cell[] = ['FIELD', 'CHANGE', 'WHEN', 'WHO', 'REQUEST', 'TXID', 'SOURCE', 'WHY', 'VALUE'].map(
    (text) => ({
      text,
      style: 'dim',
    }),
  );
  const rows = result.fields.map(fieldCells);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i]?.text.length ?? 0)));
  const lines = [
    style('bold', `${printable(result.table)} ${printable(result.rowKey)}`),
    ...[header, ...rows].map((row) =>
      row
        .map((cell, i) => {
          const padded = i === row.length - 1 ? cell.text : cell.text.padEnd(widths[i] ?? 0);
          return cell.style ? style(cell.style, padded) : padded;
        })
        .join('  ')
        .trimEnd(),
    ),
  ];
  const deleted = result.deletedBy;
  if (deleted) {
    lines.push(
      style('red', `deleted by change ${deleted.id} (${deleted.operation}) at ${when(deleted.changedAt)}`) +
        `, by ${who(deleted)}${deleted.reason === null ? '' : `: ${printable(deleted.reason)}`}`,
    );
  }
  if (result.when !== null) {
    lines.push(
      style(
        'magenta',
        `changes that did not match the table's rule "when ${printable(result.when)}" were not recorded`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

function fieldCells(field: FieldBlame): Cell[] {
  const name: Cell = { text: printable(field.field), style: 'bold' };
  const change = field.change;
  if (!change) {
    return [
      name,
      { text: 'unknown', style: 'magenta' },
      ...['', '', '', '', '', ''].map((text) => ({ text })),
      {
        text: UNKNOWN_TEXT[field.unknown ?? 'before_tracking'],
        style: 'magenta',
      },
    ];
  }
  const dash = (text: string | null): Cell => (text === null ? { text: '-', style: 'dim' } : { text: printable(text) });
  const value: Cell = { text: valueText(field), style: 'cyan' };
  if (field.unknown) value.text += ` (${UNKNOWN_TEXT[field.unknown]})`;
  return [
    name,
    { text: `${change.id} ${change.operation}`, style: OPERATION_STYLE[change.operation] },
    { text: when(change.changedAt) },
    { text: who(change) },
    dash(change.requestId),
    { text: change.txid },
    { text: printable(change.source) },
    dash(change.reason),
    value,
  ];
}

function valueText(field: FieldBlame): string {
  if (field.masked) return '(masked: changed, value not kept)';
  if (field.oversized) return '(too large to keep)';
  if (field.erased) return '(erased on request: value not kept)';
  const shown = (value: unknown): string => {
    const json = printable(JSON.stringify(value) ?? 'null');
    return json.length > VALUE_CHARS ? `${json.slice(0, VALUE_CHARS - 1)}…` : json;
  };
  return field.change?.operation === 'INSERT'
    ? shown(field.newValue)
    : `${shown(field.oldValue)} → ${shown(field.newValue)}`;
}

/** The actor (with its label), or the database role of a write without an application context, or '-'. */
function who(change: BlameChange): string {
  if (change.actorId !== null) {
    return printable(change.actorLabel === null ? change.actorId : `${change.actorId} (${change.actorLabel})`);
  }
  if (change.source !== 'db') return '-';
  const role = change.dbUser === null ? 'database' : `database role ${change.dbUser}`;
  return printable(change.claimed === null ? role : `${role}, claimed context`);
}

/** A change's time to the second, in UTC. */
function when(changedAt: string): string {
  return changedAt.replace(/\.\d+Z$/, 'Z');
}

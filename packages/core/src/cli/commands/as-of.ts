import type { Command } from 'commander';
import { Option } from 'commander';
import { csvCell, csvText, tableCsvHeader, tableCsvLine } from '../../changes/csv.js';
import { fieldHistory } from '../../history/field-history.js';
import { HistoryInputError } from '../../history/history-input-error.js';
import { trackedColumns } from '../../history/history-options.js';
import type { FieldHistoryEntry, TableRowState } from '../../history/history-types.js';
import { parseInstant } from '../../history/instant.js';
import { rowAsOf } from '../../history/row-as-of.js';
import { tableAsOf } from '../../history/table-as-of.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase, withOneConnectionPool } from '../database.js';
import { EXIT_NOT_FOUND } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { KEY_HELP, keyArgument } from '../key-argument.js';
import { UsageError } from '../usage-error.js';

const FORMATS = ['json', 'jsonl', 'csv'] as const;
type Format = (typeof FORMATS)[number];

interface AsOfFlags {
  key?: string;
  field?: string;
  format: Format;
}

export function addAsOfCommand(program: Command, cli: CliContext): void {
  program
    .command('as-of')
    .description("a row, one field's history or a whole table (streamed) as it was at a time")
    .argument('<table>', 'the table (schema.table)')
    .argument('<time>', 'an ISO 8601 time with its zone: 2024-05-01T10:00:00Z or 2024-05-01T12:00:00+02:00')
    .option('--key <key>', `only the row with this key: ${KEY_HELP}`)
    .option('--field <name>', 'with --key: the values this column (its name today) had up to the time, oldest first')
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('json'))
    .action(async (table: string, time: string, flags: AsOfFlags, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      let at: string;
      try {
        at = parseInstant(time, 'time');
      } catch (error) {
        throw new UsageError((error as Error).message.replace(/^auditrum: /, ''));
      }
      if (flags.field !== undefined && flags.key === undefined) {
        throw new UsageError('--field needs --key: the history of one field is the history of one row');
      }
      const key = flags.key === undefined ? undefined : keyArgument(flags.key);
      const read =
        key === undefined
          ? withOneConnectionPool(url, async (pool, tableInSearchPath) => {
              // Streamed in a transaction of its own: when the reader goes away, the server's query stops too.
              const rows = await tableAsOf(pool, schema, { table: await tableInSearchPath(table), at });
              await printRows(cli, rows, rows.columns, flags.format);
            })
          : withDatabase(url, async (client, tableInSearchPath) => {
              const named = await tableInSearchPath(table);
              if (flags.field !== undefined) {
                printFieldHistory(
                  cli,
                  await fieldHistory(client, schema, { table: named, key, field: flags.field, at }),
                  flags.format,
                );
                return;
              }
              const state = await rowAsOf(client, schema, { table: named, key, at });
              if (state.exists === false) {
                cli.io.stderr(`auditrum: table ${table} had no row with key ${flags.key} at ${time}\n`);
                cli.setExitCode(EXIT_NOT_FOUND);
                return;
              }
              // Printed as a table's row is: `exists` true, or null when the row may have been deleted unseen.
              const row: TableRowState = { ...state, exists: state.exists ? true : null };
              await printRows(cli, [row], await trackedColumns(client, schema, named), flags.format);
            });
      await read.catch((error: unknown) => {
        if (error instanceof HistoryInputError) throw new UsageError(error.message.replace(/^auditrum: /, ''));
        throw error;
      });
    });
}

/**
 * Prints rows as they come, never holding the table: json as one array (a row per line), jsonl a row per line,
 * each with `exists` (true, or null when the row may have been deleted unseen while the table was not tracked);
 * csv a header of today's columns and a last column naming the unknown values (`column:reason`, space separated,
 * and `exists:unknown` first for a row that may have been deleted unseen), so that an empty cell is a NULL and never
 * an unknown value.
 */
async function printRows(
  cli: CliContext,
  rows: Iterable<TableRowState> | AsyncIterable<TableRowState>,
  columns: readonly string[],
  format: Format,
): Promise<void> {
  if (format === 'csv') cli.print(tableCsvHeader(columns));
  if (format === 'json') cli.io.stdout('[');
  let first = true;
  for await (const row of rows) {
    // A slow reader slows the read instead of filling memory; one that went away (`as-of … | head`) ends it.
    await cli.io.stdoutDrained?.();
    if (cli.io.stdoutClosed?.()) return;
    if (format === 'csv') {
      cli.print(tableCsvLine(row, columns));
    } else if (format === 'json') {
      cli.io.stdout(`${first ? '\n' : ',\n'}${JSON.stringify(row)}`);
    } else {
      cli.print(JSON.stringify(row));
    }
    first = false;
  }
  if (format === 'json') cli.print(first ? ']' : '\n]');
}

function printFieldHistory(cli: CliContext, entries: FieldHistoryEntry[], format: Format): void {
  if (format === 'json') {
    cli.print(JSON.stringify(entries, null, 2));
    return;
  }
  if (format === 'jsonl') {
    for (const entry of entries) cli.print(JSON.stringify(entry));
    return;
  }
  const header = [
    'change_id',
    'changed_at',
    'operation',
    'row_key',
    'value',
    'old_value',
    'unknown',
    'actor_id',
    'request_id',
    'reason',
  ];
  cli.print(header.map(csvCell).join(','));
  for (const entry of entries) {
    cli.print(
      [
        entry.changeId,
        entry.changedAt.toISOString(),
        entry.operation,
        entry.rowKey,
        csvText(entry.value),
        csvText(entry.oldValue),
        entry.unknown ?? '',
        entry.actorId ?? '',
        entry.requestId ?? '',
        entry.reason ?? '',
      ]
        .map(csvCell)
        .join(','),
    );
  }
}

import type { Command } from 'commander';
import { restoreRow } from '../../history/restore/restore-row.js';
import type { CliContext } from '../cli-context.js';
import { KEY_HELP, keyArgument } from '../key-argument.js';
import type { RestoreFlags } from '../restore-flags.js';
import { runRestoreCommand, withRestoreFlags } from '../restore-flags.js';
import { UsageError } from '../usage-error.js';

export function addRestoreCommand(program: Command, cli: CliContext): void {
  withRestoreFlags(
    program
      .command('restore')
      .description('put a row back to its state at a time, or just before one of its changes')
      .argument('<table>', 'the table (schema.table)')
      .requiredOption('--key <key>', `the row's key: ${KEY_HELP}`)
      .option('--at <time>', 'the time, ISO 8601 with its zone (2024-05-01T10:00:00Z or …+02:00)')
      .option('--before <change-id>', 'the row as it was just before this change of it'),
  ).action(
    async (table: string, flags: RestoreFlags & { key: string; at?: string; before?: string }, command: Command) => {
      if ((flags.at === undefined) === (flags.before === undefined))
        throw new UsageError('give either --at or --before');
      const position = flags.at !== undefined ? { at: flags.at } : { beforeChange: flags.before as string };
      const target = { table, key: keyArgument(flags.key), ...position };
      await runRestoreCommand(cli, command, flags, async (db, schema, options, tableInSearchPath) =>
        restoreRow(db, schema, { ...target, table: await tableInSearchPath(table) }, options),
      );
    },
  );
}

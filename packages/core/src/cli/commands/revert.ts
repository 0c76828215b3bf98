import type { Command } from 'commander';
import { revert } from '../../history/restore/operations.js';
import type { CliContext } from '../cli-context.js';
import { KEY_HELP, keyArgument } from '../key-argument.js';
import type { RestoreFlags } from '../restore-flags.js';
import { runRestoreCommand, withRestoreFlags } from '../restore-flags.js';
import { UsageError } from '../usage-error.js';

export function addRevertCommand(program: Command, cli: CliContext): void {
  withRestoreFlags(
    program
      .command('revert')
      .description("revert one change: an UPDATE's columns back, an INSERT's row deleted, a DELETE's row inserted back")
      .argument('<change-id>', 'the change (its id in the log)')
      .option('--table <table>', 'with --key: refuse unless the change is of this row')
      .option('--key <key>', `the row's key: ${KEY_HELP}`),
  ).action(async (changeId: string, flags: RestoreFlags & { table?: string; key?: string }, command: Command) => {
    if ((flags.table === undefined) !== (flags.key === undefined))
      throw new UsageError('give --table and --key together');
    const row =
      flags.table !== undefined && flags.key !== undefined ? { table: flags.table, key: keyArgument(flags.key) } : {};
    await runRestoreCommand(cli, command, flags, async (db, schema, options, tableInSearchPath) =>
      revert(db, schema, changeId, {
        ...options,
        ...(row.table === undefined ? row : { ...row, table: await tableInSearchPath(row.table) }),
      }),
    );
  });
}

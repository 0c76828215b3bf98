import type { Command } from 'commander';
import { undo } from '../../history/restore/operations.js';
import type { CliContext } from '../cli-context.js';
import type { RestoreFlags } from '../restore-flags.js';
import { runRestoreCommand, withRestoreFlags } from '../restore-flags.js';
import { UsageError } from '../usage-error.js';

export function addUndoCommand(program: Command, cli: CliContext): void {
  withRestoreFlags(
    program
      .command('undo')
      .description('reverse every row change of a request or a transaction, newest first, all or nothing')
      .option('--request <id>', 'the request id the changes carry')
      .option(
        '--txid <n>',
        'the transaction id (txid) the changes carry; txid@n for one restored from another cluster',
      ),
  ).action(async (flags: RestoreFlags & { request?: string; txid?: string }, command: Command) => {
    if ((flags.request === undefined) === (flags.txid === undefined))
      throw new UsageError('give either --request or --txid');
    const target = flags.request !== undefined ? { requestId: flags.request } : { txid: flags.txid as string };
    await runRestoreCommand(cli, command, flags, (db, schema, options) => undo(db, schema, target, options));
  });
}

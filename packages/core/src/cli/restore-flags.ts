import type { Command } from 'commander';
import type { Queryable } from '../db/queryable.js';
import { RestoreError } from '../history/restore/restore-error.js';
import type { RestoreOptions, RestoreResult } from '../history/restore/restore-types.js';
import type { CliContext } from './cli-context.js';
import { withDatabase } from './database.js';
import { EXIT_FAILURE } from './exit-codes.js';
import { globalOptions } from './global-options.js';
import { osUser } from './os-user.js';
import { printRestore } from './restore-output.js';
import type { TableInSearchPath } from './safe-search-path.js';
import { UsageError } from './usage-error.js';

/** The flags every command that writes history back shares. */
export interface RestoreFlags {
  dryRun?: boolean;
  force?: boolean;
  reason?: string;
  actor?: string;
  json?: boolean;
}

/** Adds --dry-run, --force, --reason, --actor and --json to a restore command. */
export function withRestoreFlags(command: Command): Command {
  return command
    .option('--dry-run', 'print the statements (exact SQL and parameters) and the diff; change nothing')
    .option(
      '--force',
      'write despite later changes to the same columns, and leave values that cannot be restored as they are',
    )
    .option('--reason <text>', 'why (required unless --dry-run): recorded with each write of the restore')
    .option('--actor <id>', 'who restores, recorded as the actor (default: the operating-system user)')
    .option('--json', 'print the plan and the result as JSON');
}

/**
 * Runs a restore operation with the flags: the reason is required to write, the actor is --actor or the OS user.
 * Bad input is a usage error (exit 2); conflicts and values that cannot be restored print the plan and exit 1.
 */
export async function runRestoreCommand(
  cli: CliContext,
  command: Command,
  flags: RestoreFlags,
  operation: (
    db: Queryable,
    schema: string,
    options: RestoreOptions,
    tableInSearchPath: TableInSearchPath,
  ) => Promise<RestoreResult>,
): Promise<void> {
  const { url, schema } = globalOptions(command, cli.io);
  const dryRun = flags.dryRun === true;
  if (!dryRun && (flags.reason === undefined || flags.reason.trim() === '')) {
    throw new UsageError('give --reason: it is recorded with the restore (a --dry-run needs none)');
  }
  const options: RestoreOptions = { dryRun, force: flags.force === true, actor: { id: flags.actor ?? osUser(cli) } };
  if (flags.reason !== undefined) options.reason = flags.reason;
  try {
    const result = await withDatabase(url, (client, tableInSearchPath) =>
      operation(client, schema, options, tableInSearchPath),
    );
    printRestore(cli, result, flags.json === true);
  } catch (error) {
    if (!(error instanceof RestoreError)) throw error;
    if (error.kind === 'invalid') throw new UsageError(error.message.replace(/^auditrum: /, ''));
    if (error.plan !== undefined)
      printRestore(cli, { plan: error.plan, applied: false, changeIds: [] }, flags.json === true);
    cli.io.stderr(`${error.message}\n`);
    cli.setExitCode(EXIT_FAILURE);
  }
}

import type { Command } from 'commander';
import { deletedRows } from '../../history/restore/deleted-rows.js';
import { undelete } from '../../history/restore/operations.js';
import { RestoreError } from '../../history/restore/restore-error.js';
import type { CliContext } from '../cli-context.js';
import { printable } from '../colors.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { KEY_HELP, keyArgument } from '../key-argument.js';
import type { RestoreFlags } from '../restore-flags.js';
import { runRestoreCommand, withRestoreFlags } from '../restore-flags.js';
import { textTable } from '../text-table.js';
import { UsageError } from '../usage-error.js';

/** Longest row shown in the list; --json has them whole. */
const ROW_CHARS = 80;

export function addUndeleteCommand(program: Command, cli: CliContext): void {
  withRestoreFlags(
    program
      .command('undelete')
      .description("bring a deleted row back (--key), or list the table's deleted rows (--list: the recycle bin)")
      .argument('<table>', 'the table (schema.table)')
      .option('--key <key>', `the row's key: ${KEY_HELP}`)
      .option('--list', 'list deleted rows not back since, newest first')
      .option('--limit <n>', 'with --list: at most this many rows (1 to 1000)', '50')
      .option('--before <change-id>', 'with --list: rows deleted before this change (the next page)'),
  ).action(
    async (
      table: string,
      flags: RestoreFlags & { key?: string; list?: boolean; limit: string; before?: string },
      command: Command,
    ) => {
      if ((flags.key === undefined) === (flags.list !== true)) throw new UsageError('give either --key or --list');
      if (flags.list === true) {
        await listDeleted(cli, command, table, flags);
        return;
      }
      const target = { table, key: keyArgument(flags.key as string) };
      await runRestoreCommand(cli, command, flags, async (db, schema, options, tableInSearchPath) =>
        undelete(db, schema, { ...target, table: await tableInSearchPath(table) }, options),
      );
    },
  );
}

async function listDeleted(
  cli: CliContext,
  command: Command,
  table: string,
  flags: { limit: string; before?: string; json?: boolean },
): Promise<void> {
  const { url, schema } = globalOptions(command, cli.io);
  if (!/^\d{1,4}$/.test(flags.limit)) throw new UsageError('--limit expects a whole number from 1 to 1000');
  const limit = Number(flags.limit);
  const query = { table, limit, ...(flags.before === undefined ? {} : { before: flags.before }) };
  const page = await withDatabase(url, async (client, tableInSearchPath) =>
    deletedRows(client, schema, { ...query, table: await tableInSearchPath(table) }),
  ).catch((error: unknown) => {
    if (error instanceof RestoreError) throw new UsageError(error.message.replace(/^auditrum: /, ''));
    throw error;
  });
  if (flags.json === true) {
    cli.print(JSON.stringify(page, null, 2));
    return;
  }
  if (page.rows.length === 0) {
    cli.print('no deleted rows');
    return;
  }
  const rows = page.rows.map((row) => {
    const values = printable(JSON.stringify(row.values));
    return [
      printable(row.rowKey),
      row.changeId,
      row.deletedAt.toISOString(),
      printable(row.actorId ?? '-'),
      printable(row.reason ?? '-'),
      values.length > ROW_CHARS ? `${values.slice(0, ROW_CHARS - 1)}…` : values,
    ];
  });
  cli.io.stdout(textTable([['KEY', 'DELETED BY CHANGE', 'AT', 'WHO', 'WHY', 'ROW'], ...rows]));
  if (page.next !== null) cli.print(`more: auditrum undelete ${table} --list --before ${page.next}`);
}

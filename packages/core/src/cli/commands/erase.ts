import type { Command } from 'commander';
import type { EraseSubject } from '../../compliance/erase.js';
import { erase } from '../../compliance/erase.js';
import type { CliContext } from '../cli-context.js';
import { asUsageErrors } from '../compliance-errors.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { KEY_HELP, keyArgument } from '../key-argument.js';
import { UsageError } from '../usage-error.js';

interface EraseFlags {
  actorId?: string;
  table?: string;
  key?: string;
  keyErasure?: string;
  columns?: string;
  reason?: string;
  actor?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function addEraseCommand(program: Command, cli: CliContext): void {
  program
    .command('erase')
    .description(
      "erase one person's values from history (GDPR art. 17), in one transaction: what an actor did (actor id pseudonymised, their context and API-log bodies masked) or columns of one row; the chain still verifies, those rows reported erased",
    )
    .option('--actor-id <id>', 'erase this actor: their changes and API calls')
    .option('--table <table>', 'erase columns of one row of this tracked table (schema.table)')
    .option('--key <key>', `the row's key: ${KEY_HELP}`)
    .option(
      '--key-erasure <id>',
      'instead of --key: the row whose key this erasure erased (its history reads the key erased:<id>)',
    )
    .option('--columns <names>', 'the columns to erase in every version of the row, comma-separated')
    .option('--reason <text>', 'why: the request this answers (required, kept with the erasure)')
    .option('--actor <who>', 'who asked for the erasure (kept with it, beside the database role)')
    .option('--dry-run', 'count what would be erased, change nothing')
    .option('--json', 'print the result as JSON')
    .action(async (flags: EraseFlags, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const subject = subjectOf(flags);
      if (flags.reason === undefined || flags.reason.trim() === '') {
        throw new UsageError('give --reason: the request the erasure answers (a ticket)');
      }
      const { reason } = flags;
      const result = await asUsageErrors(() =>
        withDatabase(url, async (client, tableInSearchPath) =>
          erase(client, schema, {
            subject: 'table' in subject ? { ...subject, table: await tableInSearchPath(subject.table) } : subject,
            reason,
            requestedBy: flags.actor,
            dryRun: flags.dryRun === true,
          }),
        ),
      );
      if (flags.json) {
        cli.print(JSON.stringify(result, null, 2));
        return;
      }
      const verb = result.applied ? 'erased' : 'would erase';
      cli.print(
        `${verb} ${result.changes} change row(s) (${result.sealed} sealed) and ${result.apiRequests} API request(s)${
          result.erasureId === null ? '' : `: erasure ${result.erasureId}`
        }`,
      );
      if (result.unmatched > 0) {
        cli.print(
          `${result.unmatched} sealed row(s) had been changed before the erasure: verify still names them changed`,
        );
      }
      if (!result.applied) cli.print('dry run: nothing was changed');
    });
}

/** --actor-id alone, or --table with --key (or --key-erasure) and --columns. */
function subjectOf(flags: EraseFlags): EraseSubject {
  const byRow =
    flags.table !== undefined ||
    flags.key !== undefined ||
    flags.keyErasure !== undefined ||
    flags.columns !== undefined;
  if (flags.actorId !== undefined && byRow) {
    throw new UsageError('give --actor-id, or --table with --key and --columns, not both');
  }
  if (flags.actorId !== undefined) return { actorId: flags.actorId };
  if (flags.key !== undefined && flags.keyErasure !== undefined) {
    throw new UsageError('give --key or --key-erasure, not both');
  }
  if (flags.table === undefined || (flags.key ?? flags.keyErasure) === undefined || flags.columns === undefined) {
    throw new UsageError(
      'give --actor-id, or --table with --key and --columns (--key-erasure in place of --key: a row whose key an erasure erased)',
    );
  }
  const columns = flags.columns.split(',').map((c) => c.trim());
  if (columns.some((c) => c === ''))
    throw new UsageError(`--columns ${JSON.stringify(flags.columns)}: give column names, comma-separated`);
  if (flags.keyErasure !== undefined) return { table: flags.table, keyErasure: flags.keyErasure, columns };
  return { table: flags.table, key: keyArgument(flags.key as string), columns };
}

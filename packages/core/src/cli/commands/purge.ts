import type { Command } from 'commander';
import type { PurgedLog } from '../../compliance/purge.js';
import { PURGED_LOGS, purge } from '../../compliance/purge.js';
import type { CliContext } from '../cli-context.js';
import { asUsageErrors } from '../compliance-errors.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { milliseconds } from '../option-parsers.js';
import { textTable } from '../text-table.js';
import { UsageError } from '../usage-error.js';

interface PurgeFlags {
  olderThan: string;
  dryRun?: boolean;
  apiLogOnly?: boolean;
  changesOnly?: boolean;
  json?: boolean;
  lockTimeout: number;
}

export function addPurgeCommand(program: Command, cli: CliContext): void {
  program
    .command('purge')
    .description(
      'remove rows older than a retention period from the change log and the API-request log (whole partitions dropped, the rest deleted in batches)',
    )
    .requiredOption('--older-than <period>', "retention period with its unit, e.g. '13 months', '1 year', '90 days'")
    .option('--dry-run', 'list the partitions and rows that would go, change nothing')
    .option('--changes-only', 'only the change log')
    .option('--api-log-only', 'only the API-request log')
    .option(
      '--lock-timeout <ms>',
      "how long one try to take the log's lock for detaching a partition may hold up the log's writes (10 tries)",
      milliseconds,
      1000,
    )
    .option('--json', 'print the result as JSON')
    .action(async (flags: PurgeFlags, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      if (flags.changesOnly && flags.apiLogOnly)
        throw new UsageError('give --changes-only or --api-log-only, not both');
      const logs: readonly PurgedLog[] = flags.changesOnly
        ? ['changes']
        : flags.apiLogOnly
          ? ['api_requests']
          : PURGED_LOGS;
      const result = await asUsageErrors(() =>
        withDatabase(url, (client) =>
          purge(client, schema, {
            olderThan: flags.olderThan,
            logs,
            dryRun: flags.dryRun === true,
            lockTimeoutMs: flags.lockTimeout,
          }),
        ),
      );
      if (flags.json) {
        cli.print(JSON.stringify(result, null, 2));
        return;
      }
      const verb = result.applied ? 'purged' : 'would purge';
      cli.print(`cut-off: ${result.cutoff.toISOString()} (older than ${result.olderThan})`);
      for (const log of result.logs) {
        cli.print(`${log.log}: ${verb} ${log.rows} row(s)`);
        if (log.partitions.length > 0) {
          const rows = log.partitions.map((p) => [
            p.name,
            p.action === 'drop' ? 'drop partition' : 'delete rows',
            String(p.rows),
          ]);
          cli.io.stdout(textTable([['PARTITION', 'ACTION', 'ROWS'], ...rows]));
        }
      }
      if (!result.applied) cli.print('dry run: nothing was changed');
    });
}

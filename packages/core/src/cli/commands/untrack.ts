import type { Command } from 'commander';
import { untrackTables } from '../../tracking/track.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { printResults } from '../print-results.js';

export function addUntrackCommand(program: Command, cli: CliContext): void {
  program
    .command('untrack')
    .description('stop auditing tables; their history stays (all in one transaction)')
    .argument('<tables...>', 'tables as schema.table')
    .option('--dry-run', 'print the DDL and change nothing')
    .action(async (tables: string[], options: { dryRun?: boolean }, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const dryRun = options.dryRun === true;
      const results = await withDatabase(url, async (client, tableInSearchPath) =>
        untrackTables(client, schema, await Promise.all(tables.map(tableInSearchPath)), { dryRun }),
      );
      printResults(cli, results, dryRun);
    });
}

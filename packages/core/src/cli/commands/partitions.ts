import type { Command } from 'commander';
import { ensurePartitions } from '../../partitions/ensure-partitions.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { monthsAhead } from '../option-parsers.js';

export function addPartitionsCommand(program: Command, cli: CliContext): void {
  program
    .command('partitions')
    .description("create the change log's monthly partitions from this month (UTC) to N months ahead")
    .option('--ahead <months>', 'months ahead, 0 to 120', monthsAhead, 3)
    .action(async (options: { ahead: number }, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const created = await withDatabase(url, (client) => ensurePartitions(client, schema, options.ahead));
      if (created.length === 0) cli.print('partitions up to date');
      for (const name of created) cli.print(`created ${name}`);
    });
}

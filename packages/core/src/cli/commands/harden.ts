import type { Command } from 'commander';
import { harden } from '../../compliance/harden.js';
import type { CliContext } from '../cli-context.js';
import { asUsageErrors } from '../compliance-errors.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';

interface HardenFlags {
  appRole: string;
  adminRole: string;
  dryRun?: boolean;
}

export function addHardenCommand(program: Command, cli: CliContext): void {
  program
    .command('harden')
    .description(
      'make the logs append-only for the application role: the admin role owns the schema, the app adds history only through capture and the library',
    )
    .requiredOption('--app-role <role>', 'the role the application logs in as')
    .requiredOption('--admin-role <role>', 'the role that owns the schema and runs migrate, purge and the CLI')
    .option('--dry-run', 'print the SQL, change nothing')
    .action(async (flags: HardenFlags, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const result = await asUsageErrors(() =>
        withDatabase(url, (client) =>
          harden(client, schema, { appRole: flags.appRole, adminRole: flags.adminRole, dryRun: flags.dryRun === true }),
        ),
      );
      if (result.applied) {
        cli.print(
          `hardened: ${flags.appRole} can no longer change or remove history; ${flags.adminRole} owns ${schema}`,
        );
        return;
      }
      for (const statement of result.statements) cli.print(statement.startsWith('--') ? statement : `${statement};`);
      cli.print('-- dry run: nothing was changed');
    });
}

import type { Command } from 'commander';
import { migrations } from '../../generated/migrations.js';
import { migrate } from '../../schema/migrate.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';

export function addMigrateCommand(program: Command, cli: CliContext): void {
  program
    .command('migrate')
    .description("install or upgrade Auditrum's schema (safe to run from several processes at once)")
    .action(async (_options: object, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const result = await withDatabase(url, (client) => migrate(client, { schema }));
      for (const id of result.applied) {
        cli.print(`applied migration ${id} (${migrations.find((m) => m.id === id)?.name ?? '?'})`);
      }
      for (const table of result.restored.rebound) {
        cli.print(`rebound ${table.table} to its registry row after a restore (capture_${table.id})`);
      }
      for (const { role, reason } of result.restored.untrustedRoles) {
        cli.io.stderr(`auditrum: application role ${role} is no longer trusted after a restore: ${reason}\n`);
      }
      const { boundary, boundaryRefused, continuedCluster } = result.restored;
      if (continuedCluster) {
        cli.print(
          "the log is in another cluster whose transaction ids go on from its own (pg_upgrade): marked as this cluster's",
        );
      }
      if (boundary !== null) {
        cli.print(
          `recorded restore boundary ${boundary.id}: changes up to ${boundary.changesUpTo} and API requests up to ${boundary.requestsUpTo} were restored`,
        );
      }
      const ahead = result.restored.aheadOfCluster;
      if (ahead !== null && boundary !== null) {
        cli.print(
          `${ahead.changes} change(s) and ${ahead.requests} API request(s) were restored with transaction ids up to ${ahead.upTo}, ahead of this cluster's: the readers take them as restored, by the boundary`,
        );
      }
      if (boundaryRefused !== null) cli.io.stderr(`auditrum: a restore was found: ${boundaryRefused}\n`);
      for (const { table, reason } of result.restored.failed) {
        cli.io.stderr(`auditrum: ${table.table} was restored from a dump and is not rebound: ${reason}\n`);
      }
      cli.print(
        result.applied.length === 0
          ? `schema "${result.schema}" is up to date at version ${result.version}`
          : `schema "${result.schema}" is now at version ${result.version}`,
      );
    });
}

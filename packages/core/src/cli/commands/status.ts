import type { Command } from 'commander';
import { untrustedRoleAdvice } from '../../tracking/application-roles.js';
import { status } from '../../tracking/status.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase } from '../database.js';
import { formatRules } from '../format-rules.js';
import { globalOptions } from '../global-options.js';
import { textTable } from '../text-table.js';

export function addStatusCommand(program: Command, cli: CliContext): void {
  program
    .command('status')
    .description('show the schema version, tracked tables and their rules, drift and partitions')
    .option('--json', 'print the status as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const { url, schema } = globalOptions(command, cli.io);
      const report = await withDatabase(url, (client) => status(client, schema));
      if (options.json) {
        cli.print(JSON.stringify(report, null, 2));
        return;
      }
      cli.print(`schema:            ${report.schema} (version ${report.schemaVersion})`);
      cli.print(
        `ALTER TABLE:       ${report.followsDdl ? 'followed' : 'not followed (run "auditrum sync" after ALTER TABLE)'}`,
      );
      cli.print(
        `capture triggers:  ${report.tamperingPrevented ? 'dropping or disabling them is refused' : 'dropping or disabling them is only detected (no event triggers: needs a superuser at migrate time); "auditrum sync" repairs'}`,
      );
      cli.print(`without context:   ${report.changesWithoutContext30d} changes in the last 30 days`);
      const roles = report.applicationRoles.map((role) => (role.exists ? role.name : `${role.name} (dropped)`));
      cli.print(`app roles:         ${roles.length > 0 ? roles.join(', ') : 'none: no context is trusted'}`);
      const { role, trusted } = report.connection;
      cli.print(
        `context from this connection (${role}): ${trusted ? 'trusted' : `NOT trusted: ${untrustedRoleAdvice(role)}`}`,
      );
      cli.print();
      cli.print(`tracked tables: ${report.tables.length}`);
      if (report.tables.length > 0) {
        const rows = report.tables.map((t) => {
          const problems = [...(t.drifted ? ['drifted'] : []), ...t.problems];
          return [
            t.table,
            `${t.enabledTriggers}/4`,
            problems.length > 0 ? problems.join(', ') : 'ok',
            formatRules(t.rules),
          ];
        });
        cli.io.stdout(textTable([['TABLE', 'TRIGGERS', 'STATE', 'RULES'], ...rows]));
      }
      if (report.restored.length > 0) {
        cli.print();
        cli.print(
          `restored from a dump, waiting for "auditrum migrate" (as the schema owner) to rebind them: ${report.restored.map((t) => t.table).join(', ')}`,
        );
      }
      if (report.schemas.length > 0) {
        cli.print();
        cli.print(`schemas tracked as a whole: ${report.schemas.length}`);
        const rows = report.schemas.map((s) => [
          s.schema,
          s.trackNew ? (report.tracksNewTables ? 'as created' : 'by sync (no event trigger)') : 'by sync',
          s.except.length > 0 ? s.except.join(',') : '-',
          s.untracked.length > 0 ? `not tracked: ${s.untracked.join(', ')}` : 'ok',
        ]);
        cli.io.stdout(textTable([['SCHEMA', 'NEW TABLES', 'EXCEPT', 'STATE'], ...rows]));
      }
      cli.print();
      cli.print(`partitions: ${report.partitions.length}`);
      if (report.partitions.length > 0) {
        const rows = report.partitions.map((p) => [p.name, String(p.estimatedRows), p.bounds]);
        cli.io.stdout(textTable([['NAME', 'EST. ROWS', 'BOUNDS'], ...rows]));
      }
    });
}

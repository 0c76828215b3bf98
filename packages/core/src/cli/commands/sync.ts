import type { Command } from 'commander';
import type { AuditrumConfig } from '../../tracking/config.js';
import type { SyncEntry } from '../../tracking/sync.js';
import { sync } from '../../tracking/sync.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase } from '../database.js';
import { EXIT_DRIFT } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { DEFAULT_CONFIG_FILES, loadConfig } from '../load-config.js';
import type { TableInSearchPath } from '../safe-search-path.js';

const SIGN: Record<SyncEntry['kind'], string> = { add: '+', change: '~', remove: '-', same: '=' };

interface SyncCommandOptions {
  config?: string;
  check?: boolean;
  prune?: boolean;
  dryRun?: boolean;
}

export function addSyncCommand(program: Command, cli: CliContext): void {
  program
    .command('sync')
    .description('make the tracked tables match a config file, and report the differences')
    .option('--config <file>', `config file (default: ${DEFAULT_CONFIG_FILES.join(', ')})`)
    .option('--check', 'change nothing; exit 3 if the database differs from the config (for CI)')
    .option('--prune', 'untrack tracked tables that the config does not name')
    .option('--dry-run', 'print the report and the DDL, change nothing')
    .action(async (options: SyncCommandOptions, command: Command) => {
      const globals = globalOptions(command, cli.io);
      const { config } = await loadConfig(cli.io.cwd, options.config);
      const schema = globals.schemaGiven ? globals.schema : (config.schema ?? globals.schema);
      const check = options.check === true;
      const dryRun = check || options.dryRun === true;
      const result = await withDatabase(globals.url, async (client, tableInSearchPath) =>
        sync(client, schema, await tablesInSearchPath(config, tableInSearchPath), {
          prune: options.prune === true,
          dryRun,
        }),
      );
      const width = Math.max(0, ...result.entries.map((e) => e.table.length));
      for (const entry of result.entries) {
        cli.print(`${SIGN[entry.kind]} ${entry.table.padEnd(width)}  ${entry.details.join('; ')}`.trimEnd());
      }
      // Loud: what sync cannot repair keeps the table's changes from being recorded.
      const unrepaired = result.entries.filter((e) => e.unrepaired !== undefined);
      for (const entry of unrepaired) {
        cli.io.stderr(
          `auditrum: ${entry.table}: its changes are not recorded, and sync cannot repair it: ${entry.unrepaired?.join('; ')}\n`,
        );
      }
      if (options.dryRun && !check) {
        for (const entry of result.entries) {
          if (entry.result?.ddl) cli.print(`-- ${entry.table}\n${entry.result.ddl.trimEnd()}`);
        }
      }
      const changed = result.entries.filter((e) => e.result && e.result.action !== 'unchanged').length;
      if (result.inSync) cli.print('in sync');
      else if (check) {
        cli.print('out of sync: run "auditrum sync" to apply');
        cli.setExitCode(EXIT_DRIFT);
      } else if (dryRun) cli.print(`dry run: ${changed} table(s) would change; nothing was changed`);
      else {
        cli.print(`applied: ${changed} table(s) changed`);
        if (unrepaired.length > 0) {
          cli.print(`still out of sync: ${unrepaired.length} table(s) that sync cannot repair`);
          cli.setExitCode(EXIT_DRIFT);
        }
      }
    });
}

/** The config with the tables it names found in the search_path the session started with. */
async function tablesInSearchPath(
  config: AuditrumConfig,
  tableInSearchPath: TableInSearchPath,
): Promise<AuditrumConfig> {
  if (typeof config.tables !== 'object' || config.tables === null || Array.isArray(config.tables)) return config;
  const tables: NonNullable<AuditrumConfig['tables']> = {};
  const written = new Map<string, string>();
  for (const [name, rules] of Object.entries(config.tables)) {
    const found = await tableInSearchPath(name);
    const earlier = written.get(found);
    // As sync says it of two names of one table that it finds itself.
    if (earlier !== undefined)
      throw new Error(`auditrum: table ${found} is named twice in the config (${earlier}, ${name})`);
    written.set(found, name);
    tables[found] = rules;
  }
  return { ...config, tables };
}

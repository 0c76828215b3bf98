import type { Command } from 'commander';
import { Option } from 'commander';
import type { TableRules } from '../../tracking/table-rules.js';
import { tablesOfSchema, trackTables } from '../../tracking/track.js';
import type { CliContext } from '../cli-context.js';
import { withDatabase } from '../database.js';
import { globalOptions } from '../global-options.js';
import { columnList, maxValueBytes } from '../option-parsers.js';
import { printResults } from '../print-results.js';
import { UsageError } from '../usage-error.js';

interface TrackCommandOptions {
  only?: string[];
  exclude?: string[];
  mask?: string[];
  maskMode?: 'hash' | 'marker';
  key?: string[];
  when?: string;
  maxValueBytes?: number;
  schemaAll?: string;
  except?: string[];
  dryRun?: boolean;
}

export function addTrackCommand(program: Command, cli: CliContext): void {
  program
    .command('track')
    .description('start or update auditing of tables (all in one transaction: an error changes nothing)')
    .argument('[tables...]', 'tables as schema.table (or found on the search_path)')
    .option('--only <columns>', 'record only these columns (comma-separated)', columnList)
    .option('--exclude <columns>', 'record every column but these', columnList)
    .option('--mask <columns>', 'record that these columns changed, not their values', columnList)
    .addOption(
      new Option('--mask-mode <mode>', 'how masked values are stored (default: hash)').choices(['hash', 'marker']),
    )
    .option('--key <columns>', 'key columns, for tables without a primary key', columnList)
    .option('--when <sql>', 'SQL condition over NEW and OLD; a change is recorded when true')
    .option(
      '--max-value-bytes <bytes>',
      'record larger values as a marker with their size and SHA-256 (default: 1048576)',
      maxValueBytes,
    )
    .option('--schema-all <dbschema>', 'track every table of this database schema (with the same rules)')
    .option('--except <tables>', 'with --schema-all: tables to leave out', columnList)
    .option('--dry-run', 'print the DDL and change nothing')
    .action(async (tables: string[], options: TrackCommandOptions, command: Command) => {
      if (options.schemaAll === undefined && tables.length === 0) {
        throw new UsageError('track: give the tables to track, or --schema-all <dbschema>');
      }
      if (options.schemaAll !== undefined && tables.length > 0) {
        throw new UsageError('track: give tables or --schema-all, not both');
      }
      if (options.except && options.schemaAll === undefined) {
        throw new UsageError('track: --except needs --schema-all');
      }
      const { url, schema } = globalOptions(command, cli.io);
      const rules: TableRules = {};
      if (options.only) rules.only = options.only;
      if (options.exclude) rules.exclude = options.exclude;
      if (options.mask) rules.mask = options.mask;
      if (options.maskMode) rules.maskMode = options.maskMode;
      if (options.key) rules.key = options.key;
      if (options.when !== undefined) rules.when = options.when;
      if (options.maxValueBytes !== undefined) rules.maxValueBytes = options.maxValueBytes;
      const dryRun = options.dryRun === true;
      const results = await withDatabase(url, async (client, tableInSearchPath) => {
        let names = await Promise.all(tables.map(tableInSearchPath));
        if (options.schemaAll !== undefined) {
          const skipped = new Set(options.except);
          names = (await tablesOfSchema(client, options.schemaAll)).filter(
            (name) => !skipped.has(name) && !skipped.has(name.slice(name.indexOf('.') + 1).replaceAll('"', '')),
          );
        }
        return trackTables(
          client,
          schema,
          names.map((table) => ({ table, rules })),
          { dryRun },
        );
      });
      if (results.length === 0) cli.print(`no tables in schema ${options.schemaAll}`);
      else printResults(cli, results, dryRun);
    });
}

import type { Command } from 'commander';
import { assertValidSchemaName, DEFAULT_SCHEMA } from '../schema/identifiers.js';
import type { CliIo } from './io.js';
import { UsageError } from './usage-error.js';

export interface GlobalOptions {
  url: string;
  schema: string;
  /** Whether `--schema` was given on the command line (a config file's schema applies otherwise). */
  schemaGiven: boolean;
}

/** The options every command shares: `--url` (default `DATABASE_URL`) and `--schema`. */
export function globalOptions(command: Command, io: CliIo): GlobalOptions {
  const options = command.optsWithGlobals<{ url?: string; schema?: string }>();
  const url = options.url ?? io.env.DATABASE_URL;
  if (url === undefined || url === '') throw new UsageError('no database: pass --url or set DATABASE_URL');
  let root = command;
  while (root.parent) root = root.parent;
  const schema = options.schema ?? DEFAULT_SCHEMA;
  // Refused before connecting: an empty name was PostgreSQL's syntax error (exit 1), a longer one cut to 63 bytes.
  try {
    assertValidSchemaName(schema);
  } catch (error) {
    throw new UsageError(`--schema: ${(error as Error).message}`);
  }
  return {
    url,
    schema,
    schemaGiven: root.getOptionValueSource('schema') === 'cli',
  };
}

import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { CliContext } from './cli-context.js';
import { addAppRoleCommand } from './commands/app-role.js';
import { addAsOfCommand } from './commands/as-of.js';
import { addBlameCommand } from './commands/blame.js';
import { addDoctorCommand } from './commands/doctor.js';
import { addEraseCommand } from './commands/erase.js';
import { addExecCommand } from './commands/exec.js';
import { addExportCommand } from './commands/export.js';
import { addHardenCommand } from './commands/harden.js';
import { addMigrateCommand } from './commands/migrate.js';
import { addPartitionsCommand } from './commands/partitions.js';
import { addPurgeCommand } from './commands/purge.js';
import { addRestoreCommand } from './commands/restore.js';
import { addRevertCommand } from './commands/revert.js';
import { addSealCommand } from './commands/seal.js';
import { addStatusCommand } from './commands/status.js';
import { addSyncCommand } from './commands/sync.js';
import { addTrackCommand } from './commands/track.js';
import { addUndeleteCommand } from './commands/undelete.js';
import { addUndoCommand } from './commands/undo.js';
import { addUntrackCommand } from './commands/untrack.js';
import { addVerifyCommand } from './commands/verify.js';
import { errorMessage } from './database.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import type { CliIo } from './io.js';
import { refuseRepeatedOptions } from './repeated-options.js';
import { UsageError } from './usage-error.js';

// src/cli/ and dist/cli/ are both two levels below the package.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * Runs the CLI on `argv` (the arguments after the program name) and returns the exit code: 0 ok, 1 failure
 * reported by the database or the API, 2 usage error, 3 drift found by `sync --check`, 4 no such row (`as-of --key`).
 * Never exits the process.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = EXIT_OK;
  const cli: CliContext = {
    io,
    print: (line = '') => io.stdout(`${line}\n`),
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  const program = new Command('auditrum')
    .description('Audit logging for PostgreSQL: install the schema, choose the tracked tables, keep partitions')
    .version(version, '-V, --version', 'print the version')
    .option('--url <url>', 'PostgreSQL connection URL (default: $DATABASE_URL)')
    .option('--schema <name>', "schema of Auditrum's tables and functions", 'auditrum')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'auditrum: ')),
    })
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError();
  addMigrateCommand(program, cli);
  addStatusCommand(program, cli);
  addTrackCommand(program, cli);
  addUntrackCommand(program, cli);
  addPartitionsCommand(program, cli);
  addSyncCommand(program, cli);
  addAppRoleCommand(program, cli);
  addBlameCommand(program, cli);
  addRevertCommand(program, cli);
  addRestoreCommand(program, cli);
  addUndeleteCommand(program, cli);
  addUndoCommand(program, cli);
  addAsOfCommand(program, cli);
  addHardenCommand(program, cli);
  addDoctorCommand(program, cli);
  addPurgeCommand(program, cli);
  addSealCommand(program, cli);
  addVerifyCommand(program, cli);
  addExportCommand(program, cli);
  addEraseCommand(program, cli);
  addExecCommand(program, cli);
  refuseRepeatedOptions(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    // Commander has printed its message (or the help, or the version) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (error instanceof UsageError) {
      io.stderr(`auditrum: ${error.message}\n(add --help for usage)\n`);
      return EXIT_USAGE;
    }
    io.stderr(`auditrum: ${describeFailure(error)}\n`);
    return EXIT_FAILURE;
  }
}

function describeFailure(error: unknown): string {
  const message = errorMessage(error).replace(/^auditrum: /, '');
  // PostgreSQL's undefined_table / undefined_function on Auditrum's own objects: not migrated yet.
  const code = (error as { code?: unknown }).code;
  if (code === '42P01' || code === '42883' || code === '3F000') {
    return `${message} (is Auditrum installed in this schema? run "auditrum migrate")`;
  }
  return message;
}

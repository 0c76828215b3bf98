import { Buffer } from 'node:buffer';
import { hostname } from 'node:os';
import process from 'node:process';
import type { Command } from 'commander';
import { MAX_PGOPTIONS_BYTES, optionsWithContext } from '../../context/connection-options.js';
import { FIELD_LIMITS } from '../../context/context-comment.js';
import { CONTEXT_ENV } from '../../context/process-context.js';
import type { CliContext } from '../cli-context.js';
import { osUser } from '../os-user.js';
import { runChild } from '../run-child.js';
import { UsageError } from '../usage-error.js';

interface ExecFlags {
  reason?: string;
  actor?: string;
}

const USAGE = 'auditrum exec [--reason TEXT] [--actor ID] -- <command> [args…]';

/**
 * `auditrum exec -- <command>`: runs a command (a backfill script, a migration, psql) whose database writes are
 * recorded with `source: cli`, the reason, and who ran it. The context reaches the command's connections two ways:
 * PGOPTIONS (`-c auditrum.context=…`), which libpq and node-postgres send when they connect, so any client is
 * covered; and AUDITRUM_CONTEXT, which Auditrum's own instrumentation uses outside an audit scope (and which works
 * where startup options do not reach, e.g. behind PgBouncer).
 */
export function addExecCommand(program: Command, cli: CliContext): void {
  program
    .command('exec')
    .description(
      'run a command whose database writes are recorded with source cli, the reason and the operating-system user',
    )
    .usage('[--reason TEXT] [--actor ID] -- <command> [args…]')
    .option('--reason <text>', 'why: recorded with each change the command makes')
    .option('--actor <id>', 'who, recorded as the actor (default: os:<operating-system user>)')
    .argument('[command...]', 'the command and its arguments, after --')
    .action(async (words: string[], flags: ExecFlags, command: Command) => {
      const [executable, ...args] = afterDoubleDash(command, words);
      checkField('--reason', flags.reason, FIELD_LIMITS.reason);
      checkField('--actor', flags.actor, FIELD_LIMITS.actor_id);
      const user = osUser(cli);
      const context = JSON.stringify({
        actor_id: flags.actor ?? `os:${user}`,
        source: 'cli',
        reason: flags.reason,
        os_user: user,
        hostname: hostname(),
        // The program only: arguments may hold secrets (a password, a token), and the audit log keeps them for years.
        command: executable,
        pid: process.pid,
      });
      const options = optionsWithContext(cli.io.env.PGOPTIONS, context);
      if (Buffer.byteLength(options) > MAX_PGOPTIONS_BYTES) {
        throw new UsageError(
          `the context does not fit in PGOPTIONS (${Buffer.byteLength(options)} bytes, at most ${MAX_PGOPTIONS_BYTES}): shorten --reason or PGOPTIONS`,
        );
      }
      const outcome = await runChild(executable, args, {
        env: { ...cli.io.env, PGOPTIONS: options, [CONTEXT_ENV]: context },
        cwd: cli.io.cwd,
      });
      if ('failure' in outcome) cli.io.stderr(`auditrum: exec: ${outcome.failure}\n`);
      cli.setExitCode(outcome.code);
    });
}

/** A context field's value, when given: not empty, and within the field's limit (a longer one would be cut). */
function checkField(flag: string, value: string | undefined, limit: number): void {
  if (value === undefined) return;
  if (value.trim() === '') throw new UsageError(`${flag} is empty: give a value or leave the flag out`);
  if (value.length > limit) throw new UsageError(`${flag} is ${value.length} characters long, at most ${limit}`);
}

/**
 * The command's words, which must all come after `--`: without it, a flag meant for the command (`node -e …`)
 * would be read as exec's own, or refused.
 */
function afterDoubleDash(command: Command, words: string[]): [string, ...string[]] {
  let root = command;
  while (root.parent) root = root.parent;
  // The arguments as given (Commander keeps them, but its types do not say so): only they show where -- was.
  const raw = (root as unknown as { rawArgs: readonly string[] }).rawArgs;
  const dashes = raw.indexOf('--');
  if (dashes === -1 || raw.length - dashes - 1 !== words.length) {
    throw new UsageError(`put -- before the command: ${USAGE}`);
  }
  const [executable, ...args] = words;
  if (executable === undefined) throw new UsageError(`give the command to run after --: ${USAGE}`);
  return [executable, ...args];
}

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import process from 'node:process';

/** The shell's exit codes for a command that could not be run: not found, and found but not executable. */
export const EXIT_NOT_FOUND_COMMAND = 127;
export const EXIT_NOT_EXECUTABLE = 126;

/** The signals a terminal or a supervisor sends to stop a program: passed on to the child, which decides. */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** How a child ended: its exit code, or why it could not start. */
export type ChildOutcome = { code: number } | { code: number; failure: string };

/**
 * Runs `command` with `args` (no shell: nothing in them is interpreted), sharing this process's standard streams,
 * until it ends. Stop signals sent to this process are passed on to the child rather than ending this process
 * first. The outcome's code is the child's exit code, 128 + the signal's number when a signal ended it (as a shell
 * reports it), or 127/126 with a failure when it could not be started.
 */
export function runChild(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd: string },
): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env: options.env, cwd: options.cwd });
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    // After a failure to start, 'exit' may follow 'error' or not: the first says how it ended.
    let ended = false;
    const done = (outcome: ChildOutcome) => {
      if (ended) return;
      ended = true;
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      resolve(outcome);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      const notFound = error.code === 'ENOENT';
      done({
        code: notFound ? EXIT_NOT_FOUND_COMMAND : EXIT_NOT_EXECUTABLE,
        failure: notFound
          ? `${command}: command not found`
          : `${command}: cannot run it (${error.code ?? error.message})`,
      });
    });
    child.on('exit', (code, signal) => {
      done({ code: code ?? 128 + (signal ? constants.signals[signal] : 0) });
    });
  });
}

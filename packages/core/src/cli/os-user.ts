import { userInfo } from 'node:os';
import type { CliContext } from './cli-context.js';
import { UsageError } from './usage-error.js';

/** The operating-system user running the CLI (the environment's USER first, as the shell sees it). */
export function osUser(cli: CliContext): string {
  const fromEnv = cli.io.env.USER ?? cli.io.env.LOGNAME ?? cli.io.env.USERNAME;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  try {
    return userInfo().username;
  } catch {
    throw new UsageError('cannot tell who you are: give --actor');
  }
}

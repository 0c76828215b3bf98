import type { CliIo } from '../src/cli/io.js';
import { run } from '../src/cli/run.js';

/** What one in-process run of the CLI returned and printed. */
export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `auditrum <args>` in-process, as the tests' one way to, collecting its output. */
export async function runCli(args: readonly string[], io: Pick<CliIo, 'env' | 'cwd' | 'colors'>): Promise<CliOutcome> {
  const outcome = { code: -1, stdout: '', stderr: '' };
  outcome.code = await run(args, {
    stdout: (text) => {
      outcome.stdout += text;
    },
    stderr: (text) => {
      outcome.stderr += text;
    },
    ...io,
  });
  return outcome;
}

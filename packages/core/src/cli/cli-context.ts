import type { CliIo } from './io.js';

/** What a command needs besides its options: the io, and a way to end with an exit code other than 0. */
export interface CliContext {
  io: CliIo;
  /** Output of one line (a newline is added). */
  print(line?: string): void;
  setExitCode(code: number): void;
}

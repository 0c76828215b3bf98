/** Where the CLI reads its environment and writes its output; main.ts binds it to the process, tests capture it. */
export interface CliIo {
  stdout(text: string): void;
  /** Resolves once what stdout was given has been handed on (a slow reader slows a long export); absent: at once. */
  stdoutDrained?(): Promise<void>;
  /** Whether the reader of stdout went away (a broken pipe): what is written from then on is dropped; absent: never. */
  stdoutClosed?(): boolean;
  stderr(text: string): void;
  /** The environment (for `DATABASE_URL`). */
  env: Readonly<Record<string, string | undefined>>;
  /** The directory where `sync` looks for its config file. */
  cwd: string;
  /** Whether stdout takes colours: a terminal, and NO_COLOR not set (absent: plain text). */
  colors?: boolean;
}

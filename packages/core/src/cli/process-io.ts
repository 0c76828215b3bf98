import { once } from 'node:events';
import process from 'node:process';
import type { CliIo } from './io.js';

/**
 * The CLI's io bound to the process. A reader that goes away early (`auditrum sync --dry-run | head`) is no
 * failure: the rest of the output is dropped quietly, as Unix tools do, and the command still ends with its own
 * exit code (so `sync --check | head` keeps its verdict). A command that streams (`as-of`, `export`) asks
 * `stdoutClosed()` and stops reading the database.
 */
export function processIo(): CliIo {
  const stdout = writerTo(process.stdout);
  return {
    stdout: stdout.write,
    stdoutClosed: stdout.closed,
    stderr: writerTo(process.stderr).write,
    stdoutDrained: async () => {
      // once() rejects on 'error': a reader that goes away while the output waits is stdoutClosed(), not a failure.
      if (process.stdout.writableNeedDrain && !process.stdout.destroyed) {
        await once(process.stdout, 'drain').catch(() => undefined);
      }
    },
    env: process.env,
    cwd: process.cwd(),
    // hasColors() exists on a terminal only, and honours NO_COLOR, NODE_DISABLE_COLORS, FORCE_COLOR and TERM=dumb.
    colors: process.stdout.isTTY === true && process.stdout.hasColors(),
  };
}

function writerTo(stream: NodeJS.WriteStream): { write: (text: string) => void; closed: () => boolean } {
  let readerGone = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    readerGone = true;
  });
  return {
    write: (text) => {
      if (!readerGone) stream.write(text);
    },
    closed: () => readerGone,
  };
}

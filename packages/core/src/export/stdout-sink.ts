import { setImmediate as afterIo } from 'node:timers/promises';
import type { ExportBatch, ExportSink } from './export-sink.js';

/**
 * Writes batches to a stream through `write`, waiting for `drained` (the stream's buffer emptied) after each, so a
 * slow reader slows the export instead of filling memory. A pipe cannot say what it holds: across a crash this sink
 * is at-least-once (the records since the last stored cursor come again, at the same positions). When the reader
 * goes away (`closed`: a broken pipe), a batch is not delivered: the export stops there, its cursor before that batch,
 * instead of reading the rest of the log into nowhere and moving the cursor past it.
 */
export function stdoutSink(
  write: (text: string) => void,
  drained: () => Promise<void>,
  closed: () => boolean,
): ExportSink {
  return {
    deliveredThrough: async () => undefined,
    async deliver(batch: ExportBatch) {
      if (!closed()) {
        write(batch.text);
        await drained();
        // A write into a closed pipe fails at once but says so by an event: let it arrive first.
        await afterIo();
      }
      if (closed()) throw new Error('auditrum: stdout was closed by its reader; the export stopped before this batch');
    },
    close: async () => undefined,
  };
}

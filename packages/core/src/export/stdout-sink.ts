import type { ExportBatch, ExportSink } from './export-sink.js';

/**
 * Writes batches to a stream through `write`, waiting for `drained` (the stream's buffer emptied) after each, so a
 * slow reader slows the export instead of filling memory. A pipe cannot say what it holds: across a crash this sink
 * is at-least-once (the records since the last stored cursor come again, at the same positions).
 */
export function stdoutSink(write: (text: string) => void, drained: () => Promise<void>): ExportSink {
  return {
    deliveredThrough: async () => undefined,
    async deliver(batch: ExportBatch) {
      write(batch.text);
      await drained();
    },
    close: async () => undefined,
  };
}

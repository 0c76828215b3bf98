import type { DeliveredRecord } from './export-record.js';

/** Records ready to deliver: their lines (each ended by a newline), how many, and the first and last positions. */
export interface ExportBatch {
  text: string;
  count: number;
  first: string;
  last: string;
  /** The batch's idempotency key: the same for the same records after a resume (the cursor's id, first, count). */
  key: string;
}

/** Where an export delivers: stdout, rotated files, a webhook. */
export interface ExportSink {
  /** The last record the sink already holds, when it can tell (a file sink reads it from its newest file). */
  deliveredThrough(): Promise<DeliveredRecord | undefined>;
  /** Delivers a batch for good (written and synced, or acknowledged); rejects when it cannot. */
  deliver(batch: ExportBatch): Promise<void>;
  close(): Promise<void>;
}

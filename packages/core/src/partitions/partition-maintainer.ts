import type { Queryable } from '../db/queryable.js';
import { intervalProblem } from '../maintenance-interval.js';
import { countPartitionCheck } from '../telemetry/metrics.js';
import { traced } from '../telemetry/open-telemetry.js';
import { ensurePartitions } from './ensure-partitions.js';

export interface PartitionMaintenanceOptions {
  /** Months of partitions kept ready ahead of the current one; default 3. */
  monthsAhead?: number;
  /** How often to check; default every 6 hours. */
  intervalMs?: number;
  /** Where failures go (the app keeps running; writes fall back to the default partition). */
  onError?: (error: unknown) => void;
}

/**
 * Keeps partitions created ahead while the app runs, so that no cron job is needed: one check at start and
 * one per interval, on an unref'd timer that never keeps the process alive. Any number of app instances
 * may run it; the SQL function serialises them.
 */
export function startPartitionMaintenance(
  db: Queryable,
  schema: string,
  options: PartitionMaintenanceOptions = {},
): { stop(): void; ready: Promise<void> } {
  const monthsAhead = options.monthsAhead ?? 3;
  const intervalMs = options.intervalMs ?? 6 * 60 * 60 * 1000;
  const problem = intervalProblem(intervalMs);
  if (problem !== undefined) throw new RangeError(`auditrum: partition check interval ${problem}`);
  const onError =
    options.onError ?? ((error: unknown) => console.error('auditrum: partition maintenance failed', error));
  const run = () =>
    traced('auditrum.partitions.ensure', { 'auditrum.months_ahead': monthsAhead }, () =>
      ensurePartitions(db, schema, monthsAhead),
    ).then(
      () => countPartitionCheck(true),
      (error: unknown) => {
        countPartitionCheck(false);
        onError(error);
      },
    );
  const ready = run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), ready };
}

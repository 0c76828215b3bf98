import type { KeyObject } from 'node:crypto';
import type { Queryable } from '../db/queryable.js';
import { intervalProblem } from '../maintenance-interval.js';
import { countSealRun } from '../telemetry/metrics.js';
import { traced } from '../telemetry/open-telemetry.js';
import type { Checkpoint } from './checkpoint.js';
import { ComplianceInputError } from './compliance-input-error.js';
import type { SealResult } from './seal.js';
import { seal } from './seal.js';

export interface SealMaintenanceOptions {
  /** How often to seal; default every 60 s, at least 1 s. A run still going when the next is due skips that turn. */
  intervalMs?: number;
  /** An Ed25519 private key (see ed25519PrivateKey): each seal then emits a checkpoint signed with it. */
  signingKey?: KeyObject;
  /** Where the signed checkpoints go (keep them off the database host): required with `signingKey`. */
  onCheckpoint?: (checkpoint: Checkpoint) => void | Promise<void>;
  /** Where failures go (the app keeps running; the next run seals what this one did not). Default: console.error. */
  onError?: (error: unknown) => void;
}

/**
 * Seals the chain while the process runs, so that no cron job is needed: one run at start and one per interval, on
 * an unref'd timer that never keeps the process alive. Run it where the schema owner's role is (after `harden`, the
 * application's role may not seal: an admin process or a worker). Any number of processes may run it; seal()
 * serialises them.
 */
export function startSealMaintenance(
  db: Queryable,
  schema: string,
  options: SealMaintenanceOptions = {},
): { stop(): void; ready: Promise<void> } {
  const intervalMs = options.intervalMs ?? 60_000;
  const problem = intervalProblem(intervalMs);
  if (problem !== undefined) throw new ComplianceInputError(`seal interval ${problem}`);
  const { signingKey, onCheckpoint } = options;
  if ((signingKey === undefined) !== (onCheckpoint === undefined)) {
    throw new ComplianceInputError(
      'give signingKey and onCheckpoint together: a signed checkpoint must go somewhere, and one needs a key',
    );
  }
  if (onCheckpoint !== undefined && typeof onCheckpoint !== 'function') {
    throw new ComplianceInputError('onCheckpoint must be a function (checkpoint) => void');
  }
  const onError = options.onError ?? ((error: unknown) => console.error('auditrum: sealing the chain failed', error));
  let running: Promise<void> | undefined;
  const sealOnce = async (): Promise<void> => {
    let result: SealResult;
    try {
      result = await traced('auditrum.chain.seal', {}, () => seal(db, schema, { signingKey }));
    } catch (error) {
      countSealRun(false, 0);
      onError(error);
      return;
    }
    countSealRun(true, result.rows);
    if (result.checkpoint !== undefined && onCheckpoint !== undefined) {
      try {
        await onCheckpoint(result.checkpoint);
      } catch (error) {
        onError(error);
      }
    }
  };
  const run = (): Promise<void> => {
    running ??= sealOnce().finally(() => {
      running = undefined;
    });
    return running;
  };
  const ready = run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), ready };
}

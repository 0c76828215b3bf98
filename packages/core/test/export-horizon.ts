import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/**
 * Waits until every transaction that ended before this call is below the cluster's horizon (the snapshot's xmin),
 * so that the next export step takes their rows. The horizon is the cluster's: other test files' open transactions
 * on the same server hold it for a while, and an export step before this would find fewer rows than a test expects.
 */
export async function waitForHorizon(db: pg.Pool): Promise<void> {
  const { rows } = await db.query<{ next: string }>('SELECT pg_current_xact_id()::text AS next');
  const next = BigInt(rows[0]?.next as string);
  for (;;) {
    const { rows: now } = await db.query<{ horizon: string }>(
      'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon',
    );
    if (BigInt(now[0]?.horizon as string) > next) return;
    await sleep(20);
  }
}

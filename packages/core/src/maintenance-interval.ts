/**
 * The longest interval a Node.js timer keeps: its delay is a 32-bit signed number of milliseconds, and a longer one is
 * set to 1 ms (with only a TimeoutOverflowWarning), so a check meant for once every 30 days would run about a
 * thousand times a second.
 */
export const MAX_INTERVAL_MS = 2 ** 31 - 1;

/** What is wrong with `intervalMs` as a maintenance timer's interval (1 s to MAX_INTERVAL_MS), or undefined. */
export function intervalProblem(intervalMs: unknown): string | undefined {
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 1000) {
    return `must be at least 1000 ms, not ${String(intervalMs)}`;
  }
  if (intervalMs > MAX_INTERVAL_MS) {
    return `must be at most ${MAX_INTERVAL_MS} ms (about 24.8 days, the longest a timer keeps), not ${intervalMs}`;
  }
  return undefined;
}

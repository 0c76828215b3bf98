/** The first wait before retrying a batch the database could not take. */
export const RETRY_FIRST_DELAY_MS = 100;
/** The longest wait between two retries: a database back from an outage is written to within this. */
export const RETRY_MAX_DELAY_MS = 2000;

/**
 * How long to wait before retry number `attempt` (1 for the first): exponential, capped, with "equal jitter" (half
 * the step fixed, half random) so that many processes that lost the same database do not retry in step, while
 * every wait stays at least half its step.
 */
export function retryDelay(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(RETRY_MAX_DELAY_MS, RETRY_FIRST_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  return step / 2 + random() * (step / 2);
}

/** A mistake in the command line itself (exit code 2), as opposed to a failure reported by the database (1). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A compliance command (harden, doctor, purge) asked for something that cannot be done as asked: a role that does
 * not exist, the same role twice, a retention period without a unit. Thrown before anything is changed; the CLI
 * reports it as a usage error.
 */
export class ComplianceInputError extends Error {
  override name = 'ComplianceInputError';
}

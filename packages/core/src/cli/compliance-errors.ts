import { ComplianceInputError } from '../compliance/compliance-input-error.js';
import { UsageError } from './usage-error.js';

/** Runs a compliance command's work, reporting a ComplianceInputError (bad flag values) as a usage error. */
export async function asUsageErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ComplianceInputError) throw new UsageError(error.message.replace(/^auditrum: /, ''));
    throw error;
  }
}

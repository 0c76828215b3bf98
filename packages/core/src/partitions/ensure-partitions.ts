import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';

/**
 * Creates the change log's monthly partitions from the current month (UTC) to `monthsAhead` months ahead and
 * returns the names it created. Rows that reached the default partition for such a month are moved in.
 */
export async function ensurePartitions(db: Queryable, schema: string, monthsAhead = 3): Promise<string[]> {
  if (!Number.isInteger(monthsAhead) || monthsAhead < 0 || monthsAhead > 120) {
    throw new RangeError(`auditrum: months ahead must be a whole number from 0 to 120, not ${String(monthsAhead)}`);
  }
  const { rows } = await db.query<{ created: string[] }>(
    `SELECT ${quoteIdentifier(schema)}.ensure_partitions($1) AS created`,
    [monthsAhead],
  );
  return rows[0]?.created ?? [];
}

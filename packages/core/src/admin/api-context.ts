import type pg from 'pg';
import type { AdminScope } from './admin-options.js';
import type { TableRef } from './api-types.js';
import type { TableDepartures } from './table-departures.js';
import type { TableKeys } from './table-keys.js';
import type { TransactionBlocks } from './transaction-blocks.js';

/** What every API handler of one request works with. */
export interface ApiContext {
  pool: pg.Pool;
  /** The Auditrum schema's name, for the history functions. */
  schema: string;
  /** The quoted Auditrum schema, for SQL text. */
  schemaSql: string;
  /** Every table in the registry (the scope is applied by the handlers). */
  tables: TableRef[];
  tablesById: Map<number, TableRef>;
  scope: AdminScope | undefined;
  /** The admin mount's summary of which transactions wrote which ids (the transaction page's bounds). */
  transactionBlocks?: TransactionBlocks;
  /** The admin mount's summary of the tables' departures in the months without their index (a table as of a time). */
  tableDepartures?: TableDepartures;
  /** The admin mount's summary of the keys of the tables' log (a table as of a time before a TRUNCATE or a gap). */
  tableKeys?: TableKeys;
}

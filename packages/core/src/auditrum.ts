import pg from 'pg';
import type { DoctorOptions, DoctorReport } from './compliance/doctor.js';
import { doctor } from './compliance/doctor.js';
import type { EraseOptions, EraseResult } from './compliance/erase.js';
import { erase } from './compliance/erase.js';
import type { HardenOptions, HardenResult } from './compliance/harden.js';
import { harden } from './compliance/harden.js';
import type { PurgeOptions, PurgeResult } from './compliance/purge.js';
import { purge } from './compliance/purge.js';
import type { SealOptions, SealResult } from './compliance/seal.js';
import { seal } from './compliance/seal.js';
import type { SealMaintenanceOptions } from './compliance/seal-maintenance.js';
import { startSealMaintenance } from './compliance/seal-maintenance.js';
import type { VerifyOptions, VerifyResult } from './compliance/verify.js';
import { verify } from './compliance/verify.js';
import {
  changeReason,
  getAuditContext,
  setAuditActor,
  setChangeReason,
  withAuditContext,
  withChangeReason,
} from './context/audit-context.js';
import { instrumentPg } from './context/instrument-pg.js';
import type { PreparedStatementContext } from './context/prepared-statement-context.js';
import { setPreparedStatementContext } from './context/prepared-statement-context.js';
import type { Queryable } from './db/queryable.js';
import { registerDefaultAuditrum, unregisterDefaultAuditrum } from './default-instance.js';
import type { ExportOptions, LogExport } from './export/live-export.js';
import { exportLogs } from './export/live-export.js';
import type { BlameOptions } from './history/blame.js';
import { blame } from './history/blame.js';
import type { RowBlame } from './history/blame-types.js';
import type { FieldHistoryOptions } from './history/field-history.js';
import { fieldHistory } from './history/field-history.js';
import type { FieldHistoryEntry, RowState } from './history/history-types.js';
import type { DeletedRowsPage, DeletedRowsQuery } from './history/restore/deleted-rows.js';
import { deletedRows } from './history/restore/deleted-rows.js';
import type { RevertOptions, RowTarget, UndoTarget } from './history/restore/operations.js';
import { revert, undelete, undo } from './history/restore/operations.js';
import type { RestoreTarget } from './history/restore/restore-row.js';
import { restoreRow } from './history/restore/restore-row.js';
import type { RestoreOptions, RestoreResult } from './history/restore/restore-types.js';
import type { RowAsOfOptions } from './history/row-as-of.js';
import { rowAsOf } from './history/row-as-of.js';
import type { TableAsOf, TableAsOfOptions } from './history/table-as-of.js';
import { tableAsOf } from './history/table-as-of.js';
import { ensurePartitions } from './partitions/ensure-partitions.js';
import type { PartitionMaintenanceOptions } from './partitions/partition-maintainer.js';
import { startPartitionMaintenance } from './partitions/partition-maintainer.js';
import { assertValidSchemaName, DEFAULT_SCHEMA } from './schema/identifiers.js';
import type { MigrateResult } from './schema/migrate.js';
import { migrate } from './schema/migrate.js';
import type { ApplicationRoleResult } from './tracking/application-roles.js';
import { addApplicationRole, removeApplicationRole } from './tracking/application-roles.js';
import type { AuditStatus } from './tracking/status.js';
import { status } from './tracking/status.js';
import type { TableRules } from './tracking/table-rules.js';
import type { TrackOptions, TrackResult } from './tracking/track.js';
import { tablesOfSchema, track, untrack } from './tracking/track.js';
import { untrustedRoleWarning } from './tracking/untrusted-role-warning.js';

export interface AuditrumOptions {
  /** The application's pool; Auditrum instruments it so that queries carry the audit context. */
  pool?: pg.Pool;
  /** A connection string, when no pool is given; default `DATABASE_URL`. */
  connectionString?: string;
  /** Schema of Auditrum's tables and functions; default `auditrum`. */
  schema?: string;
  /** Keep partitions created ahead while the app runs (default on); `false` leaves it to the CLI. */
  partitions?: PartitionMaintenanceOptions | false;
  /**
   * Seal the tamper-evident chain while the process runs (default off): in a process whose role owns the schema
   * (after `harden`, not the application's), instead of a cron job running `auditrum seal`.
   */
  seal?: SealMaintenanceOptions;
  /**
   * How a named (prepared) statement carries the context, for the whole process: `reparse` (default) parses it at
   * every execution, `setting` keeps it prepared and sends the context as a transaction-local setting in the same
   * round trip (schema version 15 or later; see docs/context.md, "Costs and limits").
   */
  preparedStatements?: PreparedStatementContext;
}

export interface Auditrum {
  readonly pool: pg.Pool;
  readonly schema: string;
  /** Installs or upgrades the schema; safe to run from several processes at once. */
  migrate(): Promise<MigrateResult>;
  track(table: string, rules?: TableRules, options?: TrackOptions): Promise<TrackResult>;
  /** Tracks every table of a database schema, with the same rules, except those named in `except`. */
  trackSchema(
    schema: string,
    options?: { except?: readonly string[]; rules?: TableRules } & TrackOptions,
  ): Promise<TrackResult[]>;
  untrack(table: string, options?: TrackOptions): Promise<TrackResult>;
  status(): Promise<AuditStatus>;
  /** Trusts the context of a database role's sessions and grants it what the app needs (schema owner only). */
  addApplicationRole(role: string): Promise<ApplicationRoleResult>;
  /** Stops trusting a database role's context (schema owner only). */
  removeApplicationRole(role: string): Promise<ApplicationRoleResult>;
  ensurePartitions(monthsAhead?: number): Promise<string[]>;
  /** A row as it was at a time, under today's column names; values that cannot be known listed with the reason. */
  rowAsOf(options: RowAsOfOptions): Promise<RowState>;
  /** Every row of a table as it was at a time, streamed (iterate it with for await); memory stays flat. */
  tableAsOf(options: TableAsOfOptions): Promise<TableAsOf>;
  /** Every recorded value of one field of a row, oldest first. */
  fieldHistory(options: FieldHistoryOptions): Promise<FieldHistoryEntry[]>;
  /** Per field of a row, who set its current value: the change (actor, request, txid, reason), or why unknown. */
  blame(options: BlameOptions): Promise<RowBlame>;
  /** Reverts one change (its columns back, an INSERT's row deleted, a DELETE's row back); audited as source `restore`. */
  revert(changeId: string | number | bigint, options?: RevertOptions): Promise<RestoreResult>;
  /** Puts a row back to its state at a time (`at`, with its zone) or just before one of its changes (`beforeChange`). */
  restore(target: RestoreTarget, options?: RestoreOptions): Promise<RestoreResult>;
  /** A table's recycle bin: deleted rows not back since, newest first, a page at a time. */
  deletedRows(query: DeletedRowsQuery): Promise<DeletedRowsPage>;
  /** Brings a deleted row back as it was deleted. */
  undelete(target: RowTarget, options?: RestoreOptions): Promise<RestoreResult>;
  /** Reverses every row change of a request or a transaction, newest first, all or nothing. */
  undo(target: UndoTarget, options?: RestoreOptions): Promise<RestoreResult>;
  /** Makes the logs append-only for the application role; the admin role owns the schema (run as a superuser). */
  harden(options: HardenOptions): Promise<HardenResult>;
  /** Whether logging can have stopped unnoticed: capture triggers present and enabled, partitions ahead. */
  doctor(options?: DoctorOptions): Promise<DoctorReport>;
  /** Removes rows older than a retention period from the change log and the API-request log. */
  purge(options: PurgeOptions): Promise<PurgeResult>;
  /**
   * Seals the change rows whose transactions have ended into the tamper-evident chain (run as the admin role, e.g. on
   * a timer in the admin's own process: the application role may not seal after `harden`).
   */
  seal(options?: SealOptions): Promise<SealResult>;
  /** Checks the chain in the server and the checkpoints given, naming every break. */
  verify(options?: VerifyOptions): Promise<VerifyResult>;
  /** Erases one person's values from history (GDPR art. 17), recorded as an erasure; `dryRun` only counts. */
  erase(options: EraseOptions): Promise<EraseResult>;
  /** Streams both logs from a cursor, each row once (see docs/export.md); run as a role that may read the sequences. */
  export(options?: ExportOptions): LogExport;
  withContext: typeof withAuditContext;
  setActor: typeof setAuditActor;
  setReason: typeof setChangeReason;
  withReason: typeof withChangeReason;
  reason: typeof changeReason;
  context: typeof getAuditContext;
  /** Stops partition and seal maintenance and, if Auditrum created the pool, ends it. */
  close(): Promise<void>;
}

export function createAuditrum(options: AuditrumOptions = {}): Auditrum {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  assertValidSchemaName(schema);
  const connectionString = options.connectionString ?? process.env.DATABASE_URL;
  if (!options.pool && !connectionString) {
    throw new Error('auditrum: give createAuditrum() a pool or a connectionString, or set DATABASE_URL');
  }
  const ownsPool = !options.pool;
  if (options.preparedStatements !== undefined) setPreparedStatementContext(options.preparedStatements);
  const pool = options.pool ?? ownPool(connectionString);
  instrumentPg(pool);
  instrumentPg();

  let maintenance: ReturnType<typeof startPartitionMaintenance> | undefined;
  const db: Queryable = pool;
  const sealing = options.seal === undefined ? undefined : startSealMaintenance(db, schema, options.seal);
  const trustWarning = untrustedRoleWarning(db, schema);
  const instance: Auditrum = {
    pool,
    schema,
    async migrate() {
      const result = await migrate(pool, { schema });
      trustWarning.check();
      if (options.partitions !== false && !maintenance) {
        maintenance = startPartitionMaintenance(db, schema, options.partitions || {});
      }
      return result;
    },
    track: (table, rules, trackOptions) => track(db, schema, table, rules, trackOptions),
    async trackSchema(databaseSchema, { except = [], rules, ...trackOptions } = {}) {
      const results: TrackResult[] = [];
      const skipped = new Set(except);
      for (const table of await tablesOfSchema(db, databaseSchema)) {
        const bare = table.slice(table.indexOf('.') + 1).replaceAll('"', '');
        if (skipped.has(table) || skipped.has(bare)) continue;
        results.push(await track(db, schema, table, rules, trackOptions));
      }
      return results;
    },
    untrack: (table, trackOptions) => untrack(db, schema, table, trackOptions),
    status: () => status(db, schema),
    addApplicationRole: (role) => addApplicationRole(db, schema, role),
    removeApplicationRole: (role) => removeApplicationRole(db, schema, role),
    ensurePartitions: (monthsAhead) => ensurePartitions(db, schema, monthsAhead),
    rowAsOf: (asOfOptions) => rowAsOf(db, schema, asOfOptions),
    tableAsOf: (asOfOptions) => tableAsOf(db, schema, asOfOptions),
    fieldHistory: (historyOptions) => fieldHistory(db, schema, historyOptions),
    blame: (blameOptions) => blame(db, schema, blameOptions),
    revert: (changeId, restoreOptions) => revert(db, schema, changeId, restoreOptions),
    restore: (target, restoreOptions) => restoreRow(db, schema, target, restoreOptions),
    deletedRows: (query) => deletedRows(db, schema, query),
    undelete: (target, restoreOptions) => undelete(db, schema, target, restoreOptions),
    undo: (target, restoreOptions) => undo(db, schema, target, restoreOptions),
    harden: (hardenOptions) => harden(db, schema, hardenOptions),
    doctor: (doctorOptions) => doctor(db, schema, doctorOptions),
    purge: (purgeOptions) => purge(db, schema, purgeOptions),
    seal: (sealOptions) => seal(db, schema, sealOptions),
    verify: (verifyOptions) => verify(db, schema, verifyOptions),
    erase: (eraseOptions) => erase(db, schema, eraseOptions),
    export: (exportOptions) => exportLogs(pool, schema, exportOptions),
    withContext: withAuditContext,
    setActor: setAuditActor,
    setReason: setChangeReason,
    withReason: withChangeReason,
    reason: changeReason,
    context: getAuditContext,
    async close() {
      unregisterDefaultAuditrum(instance);
      maintenance?.stop();
      sealing?.stop();
      if (ownsPool) await pool.end();
    },
  };
  registerDefaultAuditrum(instance);
  trustWarning.check();
  return instance;
}

// An idle connection that the server closes (a restart, a failover) is an 'error' event on the pool: unhandled, it
// would end the process. The pool has already dropped that connection; the next query opens another.
function ownPool(connectionString: string | undefined): pg.Pool {
  const pool = new pg.Pool({ connectionString });
  pool.on('error', () => undefined);
  return pool;
}

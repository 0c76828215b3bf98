/**
 * @module @auditrum/core: audit logging for Node.js on PostgreSQL. Row changes are captured by triggers in the
 * database; the context (who, why, from where) travels from AsyncLocalStorage to the triggers in a comment
 * that the pg instrumentation puts first in each statement.
 */
export type { Auditrum, AuditrumOptions } from './auditrum.js';
export { createAuditrum } from './auditrum.js';
export type { Checkpoint } from './compliance/checkpoint.js';
export { ed25519PrivateKey, ed25519PublicKey, parseCheckpoints } from './compliance/checkpoint.js';
export { ComplianceInputError } from './compliance/compliance-input-error.js';
export type { DoctorCheck, DoctorOptions, DoctorReport, DoctorStatus } from './compliance/doctor.js';
export { doctor } from './compliance/doctor.js';
export type { EraseOptions, EraseResult, EraseSubject } from './compliance/erase.js';
export { erase } from './compliance/erase.js';
export type { ErasureEvent, ErasurePage } from './compliance/erasure-events.js';
export type {
  ErasedBody,
  ErasedChangeRow,
  ErasureRow,
  ErasureSubject,
  SealRow,
  VerificationRow,
} from './compliance/erasure-records.js';
export { ERASED_VALUE, erasedActorId, erasedBody, erasureOfActorId } from './compliance/erasure-records.js';
export type { HardenOptions, HardenResult } from './compliance/harden.js';
export { harden } from './compliance/harden.js';
export type {
  IntegrityReadable,
  IntegrityStatus,
  IntegrityStatusOptions,
  IntegrityUnreadable,
  PurgeEvent,
  PurgeEvents,
  SealEvent,
  VerificationEvent,
} from './compliance/integrity-status.js';
export { integrityStatus } from './compliance/integrity-status.js';
export type { PurgedLog, PurgedLogResult, PurgedPartition, PurgeOptions, PurgeResult } from './compliance/purge.js';
export { PURGED_LOGS, purge } from './compliance/purge.js';
export type { SealOptions, SealResult } from './compliance/seal.js';
export { keyFingerprint, seal } from './compliance/seal.js';
export type { SealMaintenanceOptions } from './compliance/seal-maintenance.js';
export { startSealMaintenance } from './compliance/seal-maintenance.js';
export type {
  ChainProblem,
  ChainProblemKind,
  CheckpointProblem,
  ErasedLink,
  VerifyOptions,
  VerifyResult,
} from './compliance/verify.js';
export { verify } from './compliance/verify.js';
export type { AuditActor, AuditContext, AuditContextInput, AuditJob, AuditSource } from './context/audit-context.js';
export {
  changeReason,
  getAuditContext,
  setAuditActor,
  setChangeReason,
  withAuditContext,
  withChangeReason,
} from './context/audit-context.js';
export type { CapturedAuditContext } from './context/captured-context.js';
export { CapturedContextError, captureAuditContext, withCapturedAuditContext } from './context/captured-context.js';
export { contextComment } from './context/context-comment.js';
export { instrumentPg } from './context/instrument-pg.js';
export type { PreparedStatementContext } from './context/prepared-statement-context.js';
export { setPreparedStatementContext } from './context/prepared-statement-context.js';
export { BAD_CONTEXT_ENV_WARNING, CONTEXT_ENV } from './context/process-context.js';
export type { Queryable } from './db/queryable.js';
export type { DatabaseIdentity, ExportCursor, ExportLog, ExportMark, LogIds } from './export/export-cursor.js';
export { EXPORT_LOGS, ExportInputError, parseCursor } from './export/export-cursor.js';
export type {
  ChangeExportRecord,
  DeliveredRecord,
  ExportRecord,
  RequestExportRecord,
} from './export/export-record.js';
export type { ExportOptions, LogExport } from './export/live-export.js';
export { exportLogs } from './export/live-export.js';
export type { BlameOptions } from './history/blame.js';
export { blame } from './history/blame.js';
export type { BlameChange, BlameUnknownReason, FieldBlame, RowBlame } from './history/blame-types.js';
export type { FieldHistoryOptions } from './history/field-history.js';
export { fieldHistory } from './history/field-history.js';
export type { HistoryInputProblem } from './history/history-input-error.js';
export { HistoryInputError } from './history/history-input-error.js';
export type {
  FieldHistoryEntry,
  KeyValue,
  RebuiltFrom,
  RowKeyInput,
  RowState,
  TableRowState,
  UnknownReason,
  UnknownValue,
} from './history/history-types.js';
export { UNKNOWN_REASONS } from './history/history-types.js';
export type { InstantInput } from './history/instant.js';
export { parseInstant } from './history/instant.js';
export type { DeletedRow, DeletedRowsPage, DeletedRowsQuery } from './history/restore/deleted-rows.js';
export { deletedRows } from './history/restore/deleted-rows.js';
export type { RevertOptions, RowTarget, UndoTarget } from './history/restore/operations.js';
export { revert, undelete, undo } from './history/restore/operations.js';
export { RestoreError } from './history/restore/restore-error.js';
export type { RestoreTarget } from './history/restore/restore-row.js';
export { restoreRow } from './history/restore/restore-row.js';
export type {
  ChangeId,
  ConflictKind,
  FieldChange,
  PlannedStatement,
  RestoreConflict,
  RestoreOperation,
  RestoreOptions,
  RestorePlan,
  RestoreResult,
  Unrestorable,
  UnrestorableReason,
} from './history/restore/restore-types.js';
export type { RowAsOfOptions } from './history/row-as-of.js';
export { rowAsOf } from './history/row-as-of.js';
export { rowKeyJson } from './history/row-key-input.js';
export type { TableAsOf, TableAsOfOptions } from './history/table-as-of.js';
export { tableAsOf } from './history/table-as-of.js';
export { ensurePartitions } from './partitions/ensure-partitions.js';
export type { PartitionMaintenanceOptions } from './partitions/partition-maintainer.js';
export { startPartitionMaintenance } from './partitions/partition-maintainer.js';
export type { MigrateOptions, MigrateResult } from './schema/migrate.js';
export { migrate } from './schema/migrate.js';
export type { Migration } from './schema/migration.js';
export type { RestoreBoundary } from './schema/restore-boundary.js';
export { RestorePendingError } from './schema/restore-boundary.js';
export type { Rebinding, RestoredTable, TransactionsAhead } from './schema/restored-registry.js';
export { SchemaTooNewError } from './schema/schema-too-new-error.js';
export type { ApplicationRole, ApplicationRoleResult, ConnectionTrust } from './tracking/application-roles.js';
export {
  addApplicationRole,
  connectionTrust,
  listApplicationRoles,
  removeApplicationRole,
} from './tracking/application-roles.js';
export type { AuditrumConfig, SchemaTracking } from './tracking/config.js';
export { defineConfig, validateConfig } from './tracking/config.js';
export type { AuditStatus, PartitionStatus, TrackedTableStatus } from './tracking/status.js';
export { status } from './tracking/status.js';
export type { SyncEntry, SyncOptions, SyncResult } from './tracking/sync.js';
export { sync } from './tracking/sync.js';
export type { TableRules } from './tracking/table-rules.js';
export { DEFAULT_MAX_VALUE_BYTES } from './tracking/table-rules.js';
export type { TrackOptions, TrackResult } from './tracking/track.js';
export { track, trackTables, untrack, untrackTables } from './tracking/track.js';
export type { TrackedSchemaStatus } from './tracking/tracked-schemas.js';
export { UNTRUSTED_ROLE_WARNING } from './tracking/untrusted-role-warning.js';

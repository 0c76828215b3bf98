/**
 * @module @auditrum/core/admin: the admin's JSON API as a framework-free route table, and its wire types.
 */

export type { AdminHandler, AdminRequest, AdminResponse } from './admin-http.js';
export type { AdminActor, AdminOptions, AdminScope, AuthorizeResult } from './admin-options.js';
export { createAdminRoutes } from './admin-routes.js';
export type {
  ActorRef,
  ActorResponse,
  AdminClientConfig,
  AdminErrorBody,
  AdminErrorCode,
  ApiRequestDetail,
  ApiRequestSummary,
  BlameChange,
  BlameResponse,
  BlameUnknownReason,
  BodyMarker,
  Change,
  ChangeFilters,
  ChangeId,
  ChangeOperation,
  ChangeResponse,
  ChangeSourceFilter,
  ChangesResponse,
  ConflictKind,
  DeletedRowItem,
  DeletedRowsResponse,
  ExportFormat,
  FieldBlame,
  FieldChange,
  HistoryResponse,
  OversizedValue,
  Page,
  PageParams,
  PlannedStatement,
  RequestFilters,
  RequestResponse,
  RequestsResponse,
  RestoreConflict,
  RestoreOperation,
  RestorePlan,
  RevertRequest,
  RowBlame,
  RowKeyParam,
  RowVersion,
  TableRef,
  TablesResponse,
  UndeleteRequest,
  UndoRequest,
  Unrestorable,
  UnrestorableReason,
  WriteRequestBase,
  WriteResponse,
} from './api-types.js';
export type { AdminRequestBody } from './request-body.js';
export { MAX_BODY_BYTES } from './request-body.js';
export { normaliseBasePath, renderIndexHtml } from './ui-assets.js';

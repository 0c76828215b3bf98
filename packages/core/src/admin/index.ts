/**
 * @module @auditrum/core/admin: the admin's read-only JSON API as a framework-free route table, and its wire types.
 */
export type {
  ActorRef,
  ActorResponse,
  AdminClientConfig,
  AdminErrorBody,
  AdminErrorCode,
  ApiRequestDetail,
  ApiRequestSummary,
  BodyMarker,
  Change,
  ChangeFilters,
  ChangeOperation,
  ChangeResponse,
  ChangeSourceFilter,
  ChangesResponse,
  ExportFormat,
  HistoryResponse,
  Page,
  PageParams,
  RequestFilters,
  RequestResponse,
  RequestsResponse,
  RowVersion,
  TableRef,
  TablesResponse,
} from './api-types.js';

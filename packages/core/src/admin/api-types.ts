import type { ChangeOperation } from '../changes/change-row.js';
import type { ErasureEvent } from '../compliance/erasure-events.js';
import type { IntegrityReadable, IntegrityUnreadable } from '../compliance/integrity-status.js';
import type { BlameChange, FieldBlame, RowBlame } from '../history/blame-types.js';
import type { FieldHistoryEntry, RowState, TableRowState } from '../history/history-types.js';
import type { DeletedRow } from '../history/restore/deleted-rows.js';
import type { RestorePlan, RestoreResult } from '../history/restore/restore-types.js';

export type { ErasureEvent } from '../compliance/erasure-events.js';
export type {
  IntegrityReadable,
  IntegrityUnreadable,
  PurgeEvent,
  PurgeEvents,
  SealEvent,
  VerificationEvent,
} from '../compliance/integrity-status.js';
export type {
  BlameChange,
  BlameUnknownReason,
  FieldBlame,
  RowBlame,
} from '../history/blame-types.js';
export type { RebuiltFrom, UnknownReason, UnknownValue } from '../history/history-types.js';
export type {
  ChangeId,
  ConflictKind,
  FieldChange,
  PlannedStatement,
  RestoreConflict,
  RestoreOperation,
  RestorePlan,
  Unrestorable,
  UnrestorableReason,
} from '../history/restore/restore-types.js';

/**
 * The admin JSON API's wire types, shared by the route table in core and the admin UI. All routes are GET,
 * relative to the base path the admin is mounted under (default `/audit-admin`). Ids of log rows are strings
 * because they are bigint in PostgreSQL; times are ISO 8601 strings in UTC.
 */

export type { ChangeOperation };

/** The `source` filter's values; `db` selects direct database writes that carried no application context. */
export type ChangeSourceFilter = 'http' | 'job' | 'cli' | 'migration' | 'app' | 'db';

/** Who made a change or a request. */
export interface ActorRef {
  id: string;
  label: string | null;
  /**
   * Set when this id is the pseudonym an erasure gave an erased actor (`erased:<erasure>`): that erasure's id, as its
   * records say (an application may name a real actor `erased:7` too: its changes have no `erasure`). The changes
   * filter `erasure` lists the erased actor's changes; `actor` never does.
   */
  erasure?: string;
}

/** One tracked table, as listed by `GET api/tables` (untracked tables keep their history and are listed too). */
export interface TableRef {
  id: number;
  schema: string;
  table: string;
}

/** A table as `GET api/tables` lists it: with its columns today, in table order (empty when dropped since). */
export interface TableInfo extends TableRef {
  columns: string[];
}

/** `GET api/tables` */
export interface TablesResponse {
  tables: TableInfo[];
  /**
   * Whether this user may write (revert, restore, undelete, undo) the listed tables: false on an admin mounted
   * without `authorizeWrite`, or when it does not answer `true` for this request.
   */
  canWrite: boolean;
}

/** One row change. */
export interface Change {
  id: string;
  changedAt: string;
  /** Its transaction: the txid, or `txid@n` for one restored from another cluster (docs/cli.md, `migrate`). */
  txid: string;
  schema: string;
  table: string;
  operation: ChangeOperation;
  /** The row's key: the key column's value as text, or a JSON array as text for composite keys. */
  rowKey: string | null;
  /**
   * When `rowKey` is the pseudonym an erasure of the row's key column gave (`erased:<erasure id>`): that erasure. A
   * real row may have a key of the same text; this change is not its (its versions are the `erasure` filter's).
   */
  keyErasure?: string;
  /** UPDATE: the changed columns' previous values; DELETE: the full row; otherwise null. */
  oldValues: Record<string, unknown> | null;
  /** UPDATE: the changed columns' new values; INSERT: the full row; otherwise null. */
  newValues: Record<string, unknown> | null;
  /** UPDATE: the names of the changed columns; otherwise null. */
  changedColumns: string[] | null;
  actor: ActorRef | null;
  requestId: string | null;
  reason: string | null;
  /** `http`, `job`, `cli`, `migration`, `app` (application code with a context) or `db` (no application context). */
  source: string;
  /**
   * The whole stored context: method, route, path, ip, user_agent, meta, ... for application writes; db_user,
   * application_name, client_addr for direct database writes.
   */
  context: Record<string, unknown> | null;
  /**
   * The context a direct database write's statement claimed (its comment, as sent) from a role that is not one
   * of the application's: never the actor, only what it said; null otherwise.
   */
  claimed: Record<string, unknown> | null;
  /** The columns whose value in `oldValues` / `newValues` is an OversizedValue; null when none. */
  oversized: { old: string[]; new: string[] } | null;
  /**
   * The columns whose value in `oldValues` / `newValues` an erasure replaced (`auditrum erase`): null there, never
   * the erasure's marker, and not known; null when none. A value that only reads like the marker is a value.
   */
  erased: { old: string[]; new: string[] } | null;
}

/**
 * What is stored instead of a value larger than the table's `maxValueBytes`: its size and SHA-256, never the value,
 * so it cannot be shown or restored. Only the columns listed in `Change.oversized` / `RowVersion.oversized` hold
 * one (a json column may hold an object of this shape as a real value).
 */
export interface OversizedValue {
  $auditrum: 'oversized';
  bytes: number;
  sha256: string;
}

/**
 * Filters of `GET api/changes` and `GET api/changes/export`, as query parameters. `table` is `schema.table`;
 * `from` is inclusive and `to` exclusive (ISO 8601 with a time zone, or a date meaning midnight UTC); `q`
 * searches the changed values (case-insensitive substring of old or new values).
 */
export interface ChangeFilters {
  table?: string;
  operation?: ChangeOperation;
  /** An actor id: that actor's changes (never an erased actor's of the same text: see `erasure`). */
  actor?: string;
  /** An erasure's id: the changes it touched, an erased actor's under its pseudonym or an erased row's. */
  erasure?: string;
  request?: string;
  /** A database transaction (`Change.txid`): every change it made, whatever its source. */
  txid?: string;
  /** UPDATEs that changed this column (named as when the change was recorded). */
  column?: string;
  key?: string;
  source?: ChangeSourceFilter;
  from?: string;
  to?: string;
  q?: string;
}

/** Keyset pagination parameters: `cursor` is the previous page's `nextCursor`; `limit` is 1..200 (default 50). */
export interface PageParams {
  cursor?: string;
  limit?: number;
}

/** A page, newest first; `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * `GET api/changes`. A search in values (`q`) without the trigram index reads a bounded number of rows per page
 * (2,500 for the first, 100,000 for each later one), and so do a `column` and a `source` without its optional index
 * (10,000 and 100,000); when they run out before the page is full, the page holds
 * fewer than `limit` items, none even, `searchedTo` is set and `nextCursor` goes on from where it stopped.
 */
export interface ChangesResponse extends Page<Change> {
  /** The time of the oldest change this page read (ISO 8601, UTC): only older changes are left to search. */
  searchedTo?: string;
}

/**
 * `GET api/changes/export?format=csv|ndjson&<ChangeFilters>`: a streamed attachment, newest first. Also the formats of
 * `GET api/table-as-of/export?table&at&key&format`: the whole table as of `at` (rows whose key contains `key`), the first
 * 10 in the order of the table's key, the others in no particular order: CSV with today's columns then `unknown` (`column:reason`, space separated), or one `TableRowAsOf`
 * per NDJSON line.
 */
export type ExportFormat = 'csv' | 'ndjson';

/** One logged API call, as listed. */
export interface ApiRequestSummary {
  id: string;
  requestId: string;
  requestedAt: string;
  method: string;
  /** Without the query string. */
  path: string;
  /** The route pattern (e.g. `/orders/:id`) when the framework knew it. */
  route: string | null;
  /** Null when the client aborted before a response. */
  status: number | null;
  durationMs: number;
  aborted: boolean;
  actor: ActorRef | null;
  ip: string | null;
  /** The number of row changes that carry this request id (given by the detail and list routes). */
  changeCount?: number;
}

/**
 * How a body that is not stored as-is is described: `truncated` (over the size limit; `bytes`, `preview`),
 * `binary` (`contentType`, `bytes`), `stream`, `invalid-json` (`preview`).
 */
export interface BodyMarker {
  $auditrum: 'truncated' | 'binary' | 'stream' | 'invalid-json';
  [detail: string]: unknown;
}

/** One logged API call with everything stored about it (headers and bodies already masked when written). */
export interface ApiRequestDetail extends ApiRequestSummary {
  query: Record<string, unknown> | null;
  userAgent: string | null;
  requestHeaders: Record<string, unknown> | null;
  responseHeaders: Record<string, unknown> | null;
  /** A JSON value, a text body as a JSON string, a BodyMarker, or null when no body was captured. */
  requestBody: unknown;
  responseBody: unknown;
  error: string | null;
}

/**
 * Filters of `GET api/requests`. `status` is a code (`404`), a class (`2xx` .. `5xx`) or `aborted`; `path` matches
 * paths that start with it; `method` is case-insensitive.
 */
export interface RequestFilters {
  /** An actor id: that actor's calls (never an erased actor's of the same text: see `erasure`). */
  actor?: string;
  /** An erasure's id: the calls of the actor it erased, which it masked. */
  erasure?: string;
  method?: string;
  status?: string;
  path?: string;
  request?: string;
  from?: string;
  to?: string;
}

/** `GET api/requests` */
/**
 * `GET api/requests`. A `path` prefix, a `method` or a `status` (no index serves them) reads a bounded number of calls
 * per page (10,000 for the first, 100,000 for each later one); when they run out before the page is full, the page
 * holds fewer than `limit` items, none even, `searchedTo` is set and `nextCursor` goes on from where it stopped.
 */
export interface RequestsResponse extends Page<ApiRequestSummary> {
  /** The time of the oldest call this page read (ISO 8601, UTC): only older calls are left to search. */
  searchedTo?: string;
}

/**
 * `GET api/requests/:requestId`: the call (the latest logged one with that id) and the changes it caused, oldest
 * first, at most 200 (`request.changeCount` has the total; `api/changes?request=` pages through all). `request` is
 * null when changes carry the id but the call itself was not logged (404 when neither exists).
 */
export interface RequestResponse {
  request: ApiRequestDetail | null;
  changes: Change[];
  /** The number of changes with this request id (visible under the scope). */
  changeCount: number;
}

/** `GET api/changes/:id`: the change and the API call it belongs to, when one was logged. */
export interface ChangeResponse {
  change: Change;
  request: ApiRequestSummary | null;
}

/** One version of a row: the change and the row's full (tracked-columns) state after it; null after a DELETE. */
export interface RowVersion {
  change: Change;
  state: Record<string, unknown> | null;
  /** The columns of `state` whose value is an OversizedValue (too large to keep: it cannot be restored). */
  oversized: string[];
  /** The columns of `state` whose value an erasure replaced: null there, and not known (see Change.erased). */
  erased: string[];
  /**
   * False when the history starts with an UPDATE (the table was tracked after the row existed): `state` then
   * holds only the columns seen so far. True from the first INSERT on.
   */
  complete: boolean;
}

/**
 * `GET api/history?table=schema.table&key=<row key>&at=<ISO optional>&limit&cursor|through`: one page of the
 * row's versions, oldest first: the newest `limit` (default 50), or those before `cursor` (a `nextCursor`), or
 * those up to and including change `through`. `stateAt` is the row as it was at `at` (null when it did not exist
 * then, or when `at` is not given), whatever the page.
 */
export interface HistoryResponse {
  versions: RowVersion[];
  /** The number of `versions[0]` in the whole history, from 1 (the versions' numbers run on from it). */
  firstNumber: number;
  /** The page of older versions, or null when this page starts with the first. */
  nextCursor: string | null;
  /**
   * The page of the next `limit` newer versions: its `cursor` (null when that page is the newest, asked for without a
   * cursor); null when this page ends with the newest version.
   */
  newer: { cursor: string | null } | null;
  stateAt: Record<string, unknown> | null;
  /** The columns of `stateAt` whose value is an OversizedValue. */
  stateAtOversized: string[];
  /** The columns of `stateAt` whose value an erasure replaced (null there, not known). */
  stateAtErased: string[];
}

/**
 * `GET api/row-as-of?table=schema.table&key=<row key>&at=<time>`: the row as it was at `at`, under today's column
 * names; `exists` false when it did not exist then, null when that is not known (it may have been deleted unseen
 * while the table was not tracked). Values that cannot be known are in `unknown`, with the reason
 * (excluded, masked, oversized, added later, an untracked gap, not recorded), never guessed.
 */
export type RowAsOfResponse = Omit<RowState, 'lastChangedAt'> & { lastChangedAt: string | null };

/**
 * One row of `api/table-as-of`: as `RowAsOfResponse`, for a row that existed then (`exists: true`) or may have
 * (`exists: null`: it may have been deleted unseen while the table was not tracked).
 */
export type TableRowAsOf = Omit<TableRowState, 'lastChangedAt'> & { lastChangedAt: string | null };

/**
 * `GET api/table-as-of?table&at&key&limit&cursor`: a page of the rows that existed at `at`, in key order; `key`
 * keeps rows whose key (as text) contains it. `columns` are today's columns, in table order. A page filtered by `key`
 * reads a bounded number of the table's keys (10,000 for the first page, 100,000 for each later one); when they run
 * out before the page is full, the page holds fewer than `limit` items, none even, `searchedTo` is set and
 * `nextCursor` goes on after it.
 */
export interface TableAsOfResponse extends Page<TableRowAsOf> {
  columns: string[];
  /** The last key (a row key, as `rowKey`) this page's search by key read: only the keys after it are left to search. */
  searchedTo?: string;
  /**
   * On the first page of a search by key: the row whose key is the `key` text itself (`4242` on an integer key), read
   * through the primary key whatever part of the table the page searched; absent when no such row existed then.
   */
  exact?: TableRowAsOf;
}

/** One recorded value of a field, as `api/field-history` lists it, with the label its actor had then. */
export type FieldHistoryItem = Omit<FieldHistoryEntry, 'changedAt'> & {
  changedAt: string;
  actorLabel: string | null;
  /** The erasure whose pseudonym `actorId` is, as ActorRef.erasure. */
  actorErasure?: string;
};

/**
 * `GET api/field-history?table&key&field&at&limit&cursor`: a page of the recorded values of the field (today's name),
 * oldest first: the INSERT, each UPDATE that changed it, the DELETE; with `at`, those recorded at or before it. The
 * newest `limit` (default 50, at most 200), or those before `cursor`.
 */
export interface FieldHistoryResponse {
  entries: FieldHistoryItem[];
  /** The `cursor` of the page of older values; null when this page holds the oldest. */
  nextCursor: string | null;
}

/**
 * `GET api/blame?table=schema.table&key=<row key>&field=<column, optional>`: per field of the row as it is now (in
 * column order, by today's names), the last recorded change that set it, or why that is not known.
 */
export interface BlameResponse extends Omit<RowBlame, 'fields' | 'deletedBy'> {
  fields: (Omit<FieldBlame, 'change'> & { change: AdminBlameChange | null })[];
  deletedBy: AdminBlameChange | null;
}

/** A change as the admin's blame names it, with the erasure whose pseudonym `actorId` is, as ActorRef.erasure. */
export interface AdminBlameChange extends BlameChange {
  actorErasure?: string;
}

/**
 * `GET api/deleted?table=schema.table&limit&cursor`: the table's recycle bin, its rows whose latest change is their
 * DELETE (not inserted again since), newest first; `rowKey` is the key to give `api/undelete`.
 */
export interface DeletedRowsResponse extends Page<DeletedRowItem> {
  /**
   * Set when the page read as many of the current month's changes as it may (50,000 for a first page, 150,000 for a
   * later one) before it was full: the time of the oldest change it read (ISO 8601, UTC). `nextCursor` goes on below.
   */
  searchedTo?: string;
}

/** A deleted row (see DeletedRow), its time as an ISO string. */
export type DeletedRowItem = Omit<DeletedRow, 'deletedAt'> & { deletedAt: string };

/**
 * The fields every write (`POST api/revert`, `api/restore`, `api/undelete`, `api/undo`) takes besides its target:
 * `reason` (required unless `dryRun`: recorded with each write), `dryRun` (return the plan, write nothing),
 * `force` (write despite conflicts that can be overridden, leaving values that cannot be put back as they are).
 */
export interface WriteRequestBase {
  reason?: string;
  dryRun?: boolean;
  force?: boolean;
}

/** `POST api/revert`: one change's fields back to their old values; with `table` and `key`, the change must be of that row. */
export interface RevertRequest extends WriteRequestBase {
  change: string;
  table?: string;
  key?: RowKeyParam;
}

/**
 * `POST api/restore`: a row put back to its state at a time (`at`, with its zone) or just before one of its changes
 * (`beforeChange`): the columns that differ set, a row that did not exist then deleted, a row gone since inserted.
 */
export type RestoreRequest = WriteRequestBase & {
  table: string;
  key: RowKeyParam;
} & ({ at: string; beforeChange?: never } | { beforeChange: string; at?: never });

/** `POST api/undelete`: a deleted row (its key as `api/deleted` lists it) inserted again. */
export interface UndeleteRequest extends WriteRequestBase {
  table: string;
  key: RowKeyParam;
}

/** `POST api/undo`: every change of a request (`request`, its id) or a transaction (`txid`), reversed, newest first. */
export type UndoRequest = WriteRequestBase & ({ request: string; txid?: never } | { txid: string; request?: never });

/**
 * A row key in a write's body: a key value, an array of values in key order, an object by key column, or the text
 * `api/deleted` and `Change.rowKey` give (a composite key's JSON array text is read as the array).
 */
export type RowKeyParam =
  | string
  | number
  | boolean
  | (string | number | boolean)[]
  | Record<string, string | number | boolean>;

/**
 * What a write answers (200): the plan (the exact SQL of each statement, its parameters, the diff, the conflicts and
 * what cannot be restored), whether it was applied (false for a dry run), the ids of the changes the restore's own
 * writes were recorded as, and their request id (give it to `api/undo` to take the restore back).
 */
export type WriteResponse = RestoreResult;

/**
 * `GET api/actors?q=`: up to ten actors of the recent changes whose id or latest label contains `q` (any case), the
 * latest active first (suggestions for the actor filter, which takes an id).
 */
export interface ActorsResponse {
  actors: ActorRef[];
}

/** `GET api/actors/:actorId`; times are null when the actor has no changes or requests. */
export interface ActorResponse {
  actor: ActorRef;
  /**
   * The actor's changes, counted one by one up to ACTOR_COUNT_EXACT_UP_TO; past it, the planner's estimate from the
   * log's statistics (never below what was counted), and `changeCountEstimated` is true.
   */
  changeCount: number;
  changeCountEstimated: boolean;
  /** The actor's API calls, counted and estimated in the same way. */
  requestCount: number;
  requestCountEstimated: boolean;
  firstSeen: string | null;
  lastSeen: string | null;
}

/**
 * Stable error codes, with their HTTP statuses: 400 `bad_parameter`, 404 `not_found`, 401 `unauthorized`,
 * 403 `forbidden`, 403 `cross_site` (a write not sent by the admin's own pages), 405 `method_not_allowed` (a
 * method the route does not take; every write on a read-only admin), 409 `conflict` (a write refused because of
 * conflicts, or a row not in the state it needs), 409 `unrestorable` (values it cannot put back, without `force`), 413 `payload_too_large`, 415 `unsupported_media_type` (a write's body not JSON),
 * 500 `internal`.
 */
export type AdminErrorCode =
  | 'bad_parameter'
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'cross_site'
  | 'method_not_allowed'
  | 'conflict'
  | 'unrestorable'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'internal'
  | 'unavailable';

/**
 * Every error response's body. `parameter` names the bad query or path parameter (or body field) for
 * `bad_parameter`; `plan` is the refused write's plan for `conflict` and `unrestorable`, when one was built.
 */
export interface AdminErrorBody {
  error: {
    code: AdminErrorCode;
    message: string;
    parameter?: string;
    plan?: RestorePlan;
  };
}

/**
 * The query parameters of the read routes that have no filter type above, by name (values are text in the URL):
 * one list for the server's routes and the admin's client, so that a renamed parameter fails the type check.
 */
export interface ReadRouteParams {
  history: { table: string; key: string; at?: string; through?: string } & PageParams;
  'row-as-of': { table: string; key: string; at: string };
  'table-as-of': { table: string; at: string; key?: string } & PageParams;
  'table-as-of/export': { table: string; at: string; key?: string; format: ExportFormat };
  'field-history': { table: string; key: string; field: string; at?: string } & PageParams;
  blame: { table: string; key: string; field?: string };
  deleted: { table: string } & PageParams;
  actors: { q?: string };
  /** `limit` and `cursor` page the erasures. */
  integrity: PageParams;
  erasures: { change: string };
}

/** The configuration injected into index.html as `window.__AUDITRUM_ADMIN__`. */
export interface AdminClientConfig {
  /** The base path the admin is served under, with a leading and no trailing slash, e.g. `/audit-admin`. */
  basePath: string;
  /** Whether the API-request log is in the user's scope (`scope().requests !== false`): the UI hides it if not. */
  apiLog: boolean;
  /** The host's sign-in page (the `loginUrl` option), linked when the API answers 401 (a session that ended). */
  loginUrl?: string;
  /** The host's trace viewer, a URL template with `{traceId}` and `{spanId}` (the `traceUrl` option). */
  traceUrl?: string;
}

/**
 * `GET api/integrity`: the chain's last seal and verify, rows not yet sealed, checkpoint ages, purges, and a page of
 * erasures (newest first; `nextCursor` for the next). `readable: false` when the admin's database role may not read
 * what it is made of (`missing` names it).
 */
export type IntegrityResponse =
  | IntegrityUnreadable
  | (Omit<IntegrityReadable, 'erasures'> & { erasures: Page<ErasureEvent> & { total: number } });

/** `GET api/erasures?change=ID`: the erasures that touched a change row, oldest first (empty for most rows). */
export interface ChangeErasuresResponse {
  erasures: ErasureEvent[];
  /**
   * What an erased value holds (in the change's values, context and key): such a value of a change that `erasures`
   * touched is shown as erased, never as a value. The same text in a change no erasure touched is a real value.
   */
  marker: string;
  /** The erasure whose pseudonym (`erased:<id>`) the change's actor id is, when it is one of `erasures`; else null. */
  actorErasure: string | null;
  /** The erasure whose pseudonym the change's row key is (a key column erased), when one of `erasures`; else null. */
  keyErasure: string | null;
}

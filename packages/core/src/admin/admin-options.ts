import type pg from 'pg';
import { assertValidSchemaName, DEFAULT_SCHEMA } from '../schema/identifiers.js';

/**
 * What `authorize` answers: `true` lets the request through; `false` denies it (403); `'unauthenticated'`
 * asks the user to log in (401). A thrown error or rejected promise is a 500 and serves nothing either.
 */
export type AuthorizeResult = boolean | 'unauthenticated';

/** Narrows what one user may see, applied on the server to every query. Absent fields do not narrow. */
export interface AdminScope {
  /** Only changes of these tables (`schema.table`), in every list, detail, history and count. */
  tables?: readonly string[];
  /** Only changes and API calls made by this actor id. */
  actor?: string;
  /** `false` hides the API-request log (its rows hold bodies and headers that table scopes cannot narrow). */
  requests?: boolean;
}

export interface AdminOptions<Req = unknown> {
  /** A pool whose role may read the Auditrum schema. */
  pool: pg.Pool;
  /** Schema of Auditrum's tables; default `auditrum`. */
  schema?: string;
  /** Required: decides, per request, before any data or asset is served, who may see the audit log. */
  authorize: (request: Req) => AuthorizeResult | Promise<AuthorizeResult>;
  /** Optional: narrows what the request's user may see. */
  scope?: (request: Req) => AdminScope | undefined | Promise<AdminScope | undefined>;
  /** The built admin UI (index.html and assets/); without it only the JSON API is served. */
  assetsDir?: string;
  /** Called with unexpected errors (answered with 500 `internal`); default console.error. */
  onError?: (error: unknown) => void;
}

/** The options after validation, with defaults filled in. */
export interface ResolvedAdminOptions<Req> {
  pool: pg.Pool;
  schema: string;
  authorize: (request: Req) => AuthorizeResult | Promise<AuthorizeResult>;
  scope: ((request: Req) => AdminScope | undefined | Promise<AdminScope | undefined>) | undefined;
  assetsDir: string | undefined;
  onError: (error: unknown) => void;
}

const AUTHORIZE_HELP =
  'pass authorize: (request) => boolean | "unauthenticated" (sync or async), e.g. authorize: (req) => req.user?.isStaff === true; the audit log holds every change to your data, so the admin never serves it without one';

/** Validates the options once, when the admin is mounted; every mistake is a clear error at start-up. */
export function resolveAdminOptions<Req>(options: AdminOptions<Req> | undefined): ResolvedAdminOptions<Req> {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`auditrum admin: options are required: { pool, authorize }; ${AUTHORIZE_HELP}`);
  }
  if (typeof options.authorize !== 'function') {
    throw new TypeError(
      `auditrum admin: \`authorize\` is ${options.authorize === undefined ? 'missing' : 'not a function'}; ${AUTHORIZE_HELP}`,
    );
  }
  const pool = options.pool as unknown;
  if (pool === null || typeof pool !== 'object' || typeof (pool as { query?: unknown }).query !== 'function') {
    throw new TypeError('auditrum admin: `pool` must be a pg Pool (new pg.Pool({ connectionString }))');
  }
  if (options.scope !== undefined && typeof options.scope !== 'function') {
    throw new TypeError('auditrum admin: `scope` must be a function (request) => { tables?, actor?, requests? }');
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError('auditrum admin: `onError` must be a function (error) => void');
  }
  if (options.assetsDir !== undefined && (typeof options.assetsDir !== 'string' || options.assetsDir === '')) {
    throw new TypeError('auditrum admin: `assetsDir` must be the path of the built admin UI directory');
  }
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (typeof schema !== 'string') throw new TypeError('auditrum admin: `schema` must be a string');
  assertValidSchemaName(schema);
  return {
    pool: options.pool,
    schema,
    authorize: options.authorize,
    scope: options.scope,
    assetsDir: options.assetsDir,
    onError: options.onError ?? ((error) => console.error('auditrum admin:', error)),
  };
}

/** A scope as returned by the application, checked on every request (it is code, but code written later). */
export function checkScope(scope: unknown): AdminScope | undefined {
  if (scope === undefined || scope === null) return undefined;
  if (typeof scope !== 'object') throw new TypeError('auditrum admin: scope() must return an object or undefined');
  const { tables, actor, requests } = scope as Record<string, unknown>;
  if (tables !== undefined && (!Array.isArray(tables) || tables.some((t) => typeof t !== 'string'))) {
    throw new TypeError('auditrum admin: scope().tables must be a list of "schema.table" names');
  }
  if (actor !== undefined && typeof actor !== 'string') {
    throw new TypeError('auditrum admin: scope().actor must be an actor id string');
  }
  if (requests !== undefined && typeof requests !== 'boolean') {
    throw new TypeError('auditrum admin: scope().requests must be a boolean');
  }
  return scope as AdminScope;
}

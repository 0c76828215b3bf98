import type pg from 'pg';
import type { AuditActor } from '../context/audit-context.js';
import { assertValidSchemaName, DEFAULT_SCHEMA } from '../schema/identifiers.js';

/**
 * What `authorize` answers: `true` lets the request through; `false` denies it (403); `'unauthenticated'`
 * asks the user to log in (401). A thrown error or rejected promise is a 500 and serves nothing either.
 */
export type AuthorizeResult = boolean | 'unauthenticated';

/** Who made a write through the admin: recorded as the actor of the rows it changes, as any request's actor is. */
export type AdminActor = AuditActor;

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
  /** Optional: narrows what the request's user may see (and, with `authorizeWrite`, restore). */
  scope?: (request: Req) => AdminScope | undefined | Promise<AdminScope | undefined>;
  /**
   * Optional, absent by default: decides, per request, who may write (revert, restore, undelete, undo), after
   * `authorize`. Without it the admin is read-only and no write route exists. Requires `actor`.
   */
  authorizeWrite?: (request: Req) => AuthorizeResult | Promise<AuthorizeResult>;
  /** Required with `authorizeWrite`: the admin user, recorded as the actor of the rows a write changes. */
  actor?: (request: Req) => AdminActor | Promise<AdminActor>;
  /** The built admin UI (index.html and assets/); without it only the JSON API is served. */
  assetsDir?: string;
  /**
   * Optional: the host's sign-in page, a path on this site (`/login`) or an http(s) URL. A browser that `authorize`
   * refuses gets a page saying so, with a link there (`?next=` the admin URL it asked for).
   */
  loginUrl?: string;
  /**
   * Optional: where the host's traces are, as an http(s) URL template with `{traceId}` (and optionally `{spanId}`),
   * e.g. `https://jaeger.internal/trace/{traceId}`. A change made in an OpenTelemetry span then links to its trace.
   */
  traceUrl?: string;
  /** Called with unexpected errors (answered with 500 `internal`); default console.error. */
  onError?: (error: unknown) => void;
}

/** What a writable admin is given: who may write, and as whom the writes are recorded. */
export interface AdminWriteOptions<Req> {
  authorize: (request: Req) => AuthorizeResult | Promise<AuthorizeResult>;
  actor: (request: Req) => AdminActor | Promise<AdminActor>;
}

/** The options after validation, with defaults filled in. */
export interface ResolvedAdminOptions<Req> {
  pool: pg.Pool;
  schema: string;
  authorize: (request: Req) => AuthorizeResult | Promise<AuthorizeResult>;
  scope: ((request: Req) => AdminScope | undefined | Promise<AdminScope | undefined>) | undefined;
  /** Both set, or both undefined (a read-only admin). */
  write: AdminWriteOptions<Req> | undefined;
  assetsDir: string | undefined;
  loginUrl: string | undefined;
  traceUrl: string | undefined;
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
  const loginUrl = checkLoginUrl(options.loginUrl);
  const traceUrl = checkTraceUrl(options.traceUrl);
  const write = resolveWriteOptions(options);
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (typeof schema !== 'string') throw new TypeError('auditrum admin: `schema` must be a string');
  assertValidSchemaName(schema);
  return {
    pool: options.pool,
    schema,
    authorize: options.authorize,
    scope: options.scope,
    write,
    assetsDir: options.assetsDir,
    loginUrl,
    traceUrl,
    onError: options.onError ?? ((error) => console.error('auditrum admin:', error)),
  };
}

/** A path on this site (not `//host`, which is another site) or an absolute http(s) URL. */
function checkLoginUrl(loginUrl: unknown): string | undefined {
  if (loginUrl === undefined) return undefined;
  const help = 'auditrum admin: `loginUrl` must be a path on this site such as /login, or an http(s) URL';
  if (!isPlainUrlText(loginUrl)) throw new TypeError(help);
  if ((loginUrl.startsWith('/') && !loginUrl.startsWith('//')) || isHttpUrl(loginUrl)) return loginUrl;
  throw new TypeError(help);
}

/** An absolute http(s) URL template with `{traceId}`: each placeholder filled, it must be a URL. */
function checkTraceUrl(traceUrl: unknown): string | undefined {
  if (traceUrl === undefined) return undefined;
  const help =
    'auditrum admin: `traceUrl` must be an http(s) URL template with {traceId} (and optionally {spanId}), e.g. https://jaeger.internal/trace/{traceId}';
  if (!isPlainUrlText(traceUrl) || !traceUrl.includes('{traceId}')) throw new TypeError(help);
  if (!isHttpUrl(traceUrl.replaceAll('{traceId}', '0').replaceAll('{spanId}', '0'))) throw new TypeError(help);
  return traceUrl;
}

/** A string that can go into a link and the page's injected configuration as it is. */
function isPlainUrlText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 2000 && !/[\s<>"'`\\]/.test(value);
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

const AUTHORIZE_WRITE_HELP =
  'pass authorizeWrite: (request) => boolean | "unauthenticated" (sync or async), e.g. authorizeWrite: (req) => req.user?.isAuditAdmin === true, or leave it out for a read-only admin';
const ACTOR_HELP =
  'pass actor: (request) => ({ id, label }), e.g. actor: (req) => ({ id: String(req.user.id), label: req.user.email }): writes through the admin are recorded under that user';

/** `authorizeWrite` and `actor` go together: a write that cannot name who made it is not allowed to exist. */
function resolveWriteOptions<Req>(options: AdminOptions<Req>): AdminWriteOptions<Req> | undefined {
  const { authorizeWrite, actor } = options;
  if (authorizeWrite === undefined) {
    if (actor !== undefined) {
      throw new TypeError(`auditrum admin: \`actor\` is given without \`authorizeWrite\`; ${AUTHORIZE_WRITE_HELP}`);
    }
    return undefined;
  }
  if (typeof authorizeWrite !== 'function') {
    throw new TypeError(`auditrum admin: \`authorizeWrite\` is not a function; ${AUTHORIZE_WRITE_HELP}`);
  }
  if (typeof actor !== 'function') {
    throw new TypeError(
      `auditrum admin: \`actor\` is ${actor === undefined ? 'missing' : 'not a function'} (required with authorizeWrite); ${ACTOR_HELP}`,
    );
  }
  return { authorize: authorizeWrite, actor };
}

/** The admin user a write is recorded under, as returned by the application's `actor` (checked on every write). */
export function checkActor(actor: unknown): AdminActor {
  const { id, label } = (actor ?? {}) as Record<string, unknown>;
  if (actor === null || typeof actor !== 'object' || typeof id !== 'string' || id === '' || id.length > 1000) {
    throw new TypeError('auditrum admin: actor() must return { id: string (1 to 1000 characters), label?: string }');
  }
  if (label !== undefined && label !== null && typeof label !== 'string') {
    throw new TypeError('auditrum admin: actor().label must be a string');
  }
  return typeof label === 'string' ? { id, label } : { id };
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

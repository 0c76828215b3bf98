import pg from 'pg';
import type { MaskOptions } from '../bodies/masker.js';
import { Masker } from '../bodies/masker.js';
import type { AuditActor } from '../context/audit-context.js';
import { defaultAuditrum } from '../default-instance.js';
import type { ApiLogQueueOptions } from '../request-log/api-log-writer.js';
import { assertValidSchemaName, DEFAULT_SCHEMA } from '../schema/identifiers.js';
import { actorFromUser } from './actor-from-user.js';
import type { RequestIdOptions } from './request-id.js';
import { RequestIds } from './request-id.js';

export interface BodyOptions {
  /** Store request bodies. Default true. */
  request?: boolean;
  /** Store response bodies. Default true. */
  response?: boolean;
  /** Store them for GET and HEAD requests too. Default false. */
  get?: boolean;
  /** Bodies larger than this many bytes are stored truncated, with a marker. Default 65536. */
  maxBytes?: number;
}

/**
 * Options of the HTTP middleware, the same in every adapter. `Req` is the framework's request (Express) or
 * context (Koa), as handed to the hooks.
 */
export interface HttpAuditOptions<Req> {
  /** The pool the API log is written with; it is also instrumented so that its queries carry the context. */
  pool?: pg.Pool;
  /** A core instance (from createAuditrum()): its pool and schema are used. */
  auditrum?: { readonly pool: pg.Pool; readonly schema: string };
  /** A connection string when neither pool nor auditrum is given; default `DATABASE_URL`. */
  connectionString?: string;
  /** Auditrum's schema. Default `auditrum` (or the core instance's). */
  schema?: string;
  /** The actor of a request; read when a change first needs it. Default: from `req.user` / `ctx.state.user`. */
  getActor?: (req: Req) => AuditActor | null | undefined;
  requestId?: RequestIdOptions;
  mask?: MaskOptions;
  /** Which bodies are stored; `false` stores none, `true` also stores GET bodies. */
  bodies?: BodyOptions | boolean;
  /** Paths not logged: a string is a path prefix (whole segments), a RegExp is tested on the path. Default `['/audit-admin']`. */
  exclude?: readonly (string | RegExp)[];
  /** Return true to leave a request out of the API log (its changes keep their context). */
  ignore?: (req: Req) => boolean;
  queue?: ApiLogQueueOptions;
  /** Where failures of the API log go (the request never sees them). Default: console.error. */
  onError?: (error: unknown) => void;
}

export interface ParsedBodyOptions {
  request: boolean;
  response: boolean;
  get: boolean;
  maxBytes: number;
}

/** The admin UI's default mount path, left out of the API log unless `exclude` says otherwise. */
export const DEFAULT_EXCLUDED_PATHS: readonly string[] = ['/audit-admin'];

const KNOWN_OPTIONS = new Set([
  'pool',
  'auditrum',
  'connectionString',
  'schema',
  'getActor',
  'requestId',
  'mask',
  'bodies',
  'exclude',
  'ignore',
  'queue',
  'onError',
]);

// The keys of the nested option objects: a misspelt one would otherwise be ignored without a word.
const NESTED_OPTIONS = {
  requestId: ['header', 'trustInbound', 'maxLength', 'pattern', 'generate', 'echo'],
  mask: ['keys', 'defaultKeys', 'paths', 'headers', 'censor'],
  queue: ['maxRows', 'maxBytes', 'batchSize', 'flushIntervalMs', 'reportIntervalMs', 'closeTimeoutMs'],
  bodies: ['request', 'response', 'get', 'maxBytes'],
} as const;

function assertOptionObject(value: unknown, name: string, known: readonly string[], caller: string): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`auditrum: ${caller}() option "${name}" must be an object`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`auditrum: ${caller}() option "${name}" has no "${key}"; known: ${known.join(', ')}`);
    }
  }
}

/** Options checked once, at construction; a mistake throws there with a message that names the option. */
export class ParsedHttpAuditOptions<Req> {
  readonly requestIds: RequestIds;
  readonly masker: Masker;
  readonly bodies: ParsedBodyOptions;
  readonly getActor: (req: Req) => AuditActor | undefined;
  readonly ignore: ((req: Req) => boolean) | undefined;
  readonly onError: (error: unknown) => void;
  readonly raw: HttpAuditOptions<Req>;
  readonly #excludedPrefixes: string[];
  readonly #excludedPatterns: RegExp[];

  constructor(options: HttpAuditOptions<Req> | undefined, caller: string, defaultUser: (req: Req) => unknown) {
    const raw = options ?? {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new TypeError(`auditrum: ${caller}() takes an options object`);
    }
    for (const key of Object.keys(raw)) {
      if (!KNOWN_OPTIONS.has(key)) {
        throw new TypeError(`auditrum: ${caller}() has no option "${key}"; known: ${[...KNOWN_OPTIONS].join(', ')}`);
      }
    }
    this.raw = raw;
    for (const hook of ['getActor', 'ignore', 'onError'] as const) {
      if (raw[hook] !== undefined && typeof raw[hook] !== 'function') {
        throw new TypeError(`auditrum: ${caller}() option "${hook}" must be a function`);
      }
    }
    if (raw.schema !== undefined) assertValidSchemaName(raw.schema);
    assertOptionObject(raw.requestId, 'requestId', NESTED_OPTIONS.requestId, caller);
    assertOptionObject(raw.mask, 'mask', NESTED_OPTIONS.mask, caller);
    assertOptionObject(raw.queue, 'queue', NESTED_OPTIONS.queue, caller);
    if (typeof raw.bodies === 'object') assertOptionObject(raw.bodies, 'bodies', NESTED_OPTIONS.bodies, caller);
    this.requestIds = new RequestIds(raw.requestId);
    const mask = raw.mask ?? {};
    for (const list of ['keys', 'paths', 'headers'] as const) {
      const value = mask[list];
      if (
        value !== undefined &&
        (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === ''))
      ) {
        throw new TypeError(`auditrum: ${caller}() option "mask.${list}" must be a list of non-empty strings`);
      }
    }
    if (mask.censor !== undefined && typeof mask.censor !== 'string') {
      throw new TypeError(`auditrum: ${caller}() option "mask.censor" must be a string`);
    }
    this.masker = new Masker(mask);
    this.bodies = parseBodies(raw.bodies, caller);
    const exclude = raw.exclude ?? DEFAULT_EXCLUDED_PATHS;
    if (!Array.isArray(exclude)) throw new TypeError(`auditrum: ${caller}() option "exclude" must be a list`);
    this.#excludedPrefixes = [];
    this.#excludedPatterns = [];
    for (const entry of exclude) {
      if (entry instanceof RegExp)
        this.#excludedPatterns.push(new RegExp(entry.source, entry.flags.replace(/[gy]/g, '')));
      else if (typeof entry === 'string' && entry.startsWith('/'))
        this.#excludedPrefixes.push(entry.replace(/\/+$/, ''));
      else throw new TypeError(`auditrum: ${caller}() option "exclude" takes paths starting with "/" or RegExps`);
    }
    this.onError = raw.onError ?? ((error: unknown) => console.error('auditrum: HTTP audit', error));
    const getActor = raw.getActor ?? ((req: Req) => actorFromUser(defaultUser(req)));
    // The actor getter runs inside the app's first query of the request: it must never throw there.
    let warnedAsync = false;
    this.getActor = (req) => {
      try {
        const actor = getActor(req);
        if (!warnedAsync && typeof (actor as { then?: unknown } | null | undefined)?.then === 'function') {
          // Asked inside each statement, it cannot be awaited: every change would go without an actor, unsaid.
          warnedAsync = true;
          this.onError(
            new TypeError(
              `auditrum: ${caller}() option "getActor" returned a promise; it must return the actor itself (look the user up in auth middleware before, and read it here)`,
            ),
          );
        }
        return actor && typeof actor === 'object' && actor.id !== undefined && actor.id !== null ? actor : undefined;
      } catch (error) {
        this.onError(error);
        return undefined;
      }
    };
    this.ignore = raw.ignore;
  }

  /** Whether a path (without query string) is left out of the API log by `exclude`. */
  isExcluded(path: string): boolean {
    for (const prefix of this.#excludedPrefixes) {
      if (prefix === '' || path === prefix || path.startsWith(`${prefix}/`)) return true;
    }
    return this.#excludedPatterns.some((pattern) => pattern.test(path));
  }

  /**
   * The pool and schema of the API log: the given pool, the given core instance's, the instance the app created
   * first with createAuditrum(), or a pool on DATABASE_URL.
   */
  database(caller: string): { pool: pg.Pool; schema: string; owned: boolean } {
    const raw = this.raw;
    const instance = raw.pool ? undefined : (raw.auditrum ?? defaultAuditrum());
    const schema = raw.schema ?? instance?.schema ?? DEFAULT_SCHEMA;
    const given = raw.pool ?? instance?.pool;
    if (given) return { pool: given, schema, owned: false };
    const connectionString = raw.connectionString ?? process.env.DATABASE_URL;
    if (!connectionString) {
      throw new Error(
        `auditrum: ${caller}() needs a database for the API log: give it { pool } or { auditrum }, call createAuditrum() first, or set DATABASE_URL`,
      );
    }
    const pool = new pg.Pool({ connectionString });
    // An idle connection the server closes (a restart, a failover) is an 'error' event: unhandled, it would end
    // the process. The writer reconnects on its own.
    pool.on('error', this.onError);
    return { pool, schema, owned: true };
  }
}

function parseBodies(value: HttpAuditOptions<unknown>['bodies'], caller: string): ParsedBodyOptions {
  if (value === false) return { request: false, response: false, get: false, maxBytes: 65536 };
  if (value === true || value === undefined)
    return { request: true, response: true, get: value === true, maxBytes: 65536 };
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`auditrum: ${caller}() option "bodies" must be a boolean or an object`);
  }
  const maxBytes = value.maxBytes ?? 65536;
  if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > 16 * 1024 * 1024) {
    throw new RangeError(`auditrum: ${caller}() option "bodies.maxBytes" must be a whole number from 1 to 16777216`);
  }
  return {
    request: value.request ?? true,
    response: value.response ?? true,
    get: value.get ?? false,
    maxBytes,
  };
}

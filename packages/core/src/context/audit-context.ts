import { AsyncLocalStorage } from 'node:async_hooks';
import type { TraceIds } from '../telemetry/open-telemetry.js';
import { checkInstrumentedClient } from './instrumented-clients.js';

/** Who made a change: an application user, service account or job. */
export interface AuditActor {
  id: string;
  label?: string;
}

/**
 * Where a change came from. `http`, `job`, `cli` and `migration` are the usual ones; writes with no context get `db`,
 * and writes through PostgREST, Supabase or Hasura (their user in the transaction's settings) get `gateway`.
 */
export type AuditSource = 'http' | 'job' | 'cli' | 'migration' | 'app' | 'gateway' | (string & {});

/** What is known about the code that is changing data; every field is optional. */
export interface AuditContextInput {
  /**
   * The actor, or a function that finds it: asked again at each change, so a user that auth sets later in the
   * request (often after a first query) is seen, and a user who logs out is not. `null` (`req.user ?? null`)
   * means no actor, like undefined.
   */
  actor?: AuditActor | null | (() => AuditActor | null | undefined);
  /** Why: a ticket, a refund number, a sentence. */
  reason?: string;
  source?: AuditSource;
  requestId?: string;
  method?: string;
  /** The route pattern, or a function that finds it (asked at each change, like `actor`); null means none. */
  route?: string | null | (() => string | null | undefined);
  path?: string;
  ip?: string;
  userAgent?: string;
  /** Anything else worth keeping with each change; JSON-serialisable. */
  meta?: Record<string, unknown>;
  /** The ids of the changes a write reverses: set by revert, restore, undelete and undo for each of their writes. */
  reverts?: readonly string[];
  /** The job whose run made the changes (source `job`): see withCapturedAuditContext(). */
  job?: AuditJob;
}

/** A queued job or scheduled task, as its changes record it. */
export interface AuditJob {
  /** The queue or scheduler, e.g. `mail` or `node-cron`. */
  queue?: string;
  /** The job's name or kind, e.g. `send-receipt`. */
  name?: string;
  /** The job's id in its queue. */
  id?: string;
  /** Which attempt this run is, from 1 (retries count up). */
  attempt?: number;
}

/** The context of the current scope, as stored with each change. */
export interface AuditContext extends Omit<AuditContextInput, 'actor' | 'route'> {
  actor?: AuditActor;
  route?: string;
  /** The OpenTelemetry trace and span the statement was sent in, when the host uses OpenTelemetry. */
  trace?: TraceIds;
}

/**
 * One scope's state. Mutable only through setAuditActor/setChangeReason on the scope that owns it, so that
 * late-known facts (the user after auth) reach every later query of the same request.
 */
export class AuditScope {
  #input: AuditContextInput;
  #resolved: AuditContext | undefined;
  // What the getters gave when #resolved was made: a getter's new answer makes a new context (and version).
  #actorSeen: AuditActor | undefined;
  #routeSeen: string | undefined;

  /** The scope this one was opened in, if any: its values are this one's defaults. */
  readonly outer: AuditScope | undefined;

  constructor(input: AuditContextInput, outer?: AuditScope) {
    this.#input = input;
    this.outer = outer;
  }

  /** Whether this scope is `scope` or was opened inside it. */
  isWithin(scope: AuditScope): boolean {
    for (let current: AuditScope | undefined = this; current !== undefined; current = current.outer) {
      if (current === scope) return true;
    }
    return false;
  }

  /** The context with the actor and route resolved; the same object until the scope or a getter's answer changes. */
  get context(): AuditContext {
    const { actor, route } = this.#input;
    const actorNow = (typeof actor === 'function' ? actor() : actor) ?? undefined;
    const routeNow = (typeof route === 'function' ? route() : route) ?? undefined;
    if (this.#resolved !== undefined && sameActor(actorNow, this.#actorSeen) && routeNow === this.#routeSeen) {
      return this.#resolved;
    }
    if (this.#resolved !== undefined) this.version += 1;
    this.#actorSeen = actorNow;
    this.#routeSeen = routeNow;
    const { actor: _actor, route: _route, ...rest } = this.#input;
    const resolved: AuditContext = rest;
    if (actorNow !== undefined) resolved.actor = actorNow;
    if (routeNow !== undefined) resolved.route = routeNow;
    this.#resolved = resolved;
    return resolved;
  }

  get input(): AuditContextInput {
    return this.#input;
  }

  update(changes: { [K in keyof AuditContextInput]?: AuditContextInput[K] | undefined }): void {
    const next: Record<string, unknown> = { ...this.#input };
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) delete next[key];
      else next[key] = value;
    }
    this.#input = next as AuditContextInput;
    this.#resolved = undefined;
    this.version += 1;
  }

  /** Bumped whenever the context changes, so serialised forms can be cached per version. */
  version = 0;
}

function sameActor(a: AuditActor | undefined, b: AuditActor | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.id === b.id && a.label === b.label);
}

// One store per process even when two copies of @auditrum/core are installed (bundlers, nested node_modules).
const STORAGE_KEY = Symbol.for('auditrum.audit-context');
const globals = globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<AuditScope> };
globals[STORAGE_KEY] ??= new AsyncLocalStorage<AuditScope>();
const storage: AsyncLocalStorage<AuditScope> = globals[STORAGE_KEY];

/**
 * Runs `fn` with an audit context: every change it makes through an instrumented `pg` (directly or via an ORM)
 * carries the context. Nested calls add to the outer context (inner values win) without changing it.
 *
 * When `fn` returns a thenable (a lazy query builder of Drizzle, Knex or Prisma runs only when awaited), it is
 * awaited inside the context and its result comes back as a Promise; any other result is returned as it is.
 */
export function withAuditContext<T>(context: AuditContextInput, fn: () => PromiseLike<T>): Promise<T>;
export function withAuditContext<T>(context: AuditContextInput, fn: () => T): T;
export function withAuditContext<T>(context: AuditContextInput, fn: () => T): T | Promise<unknown> {
  const outer = storage.getStore();
  const input: AuditContextInput = outer ? { ...outer.input, ...context } : context;
  const meta = mergeMeta(outer?.input.meta, context.meta);
  if (meta !== undefined) input.meta = meta;
  checkInstrumentedClient();
  return storage.run(new AuditScope(input, outer), () => startedInScope(fn()));
}

// A native promise is already running in the scope; any other thenable may only start when its then() is
// called, which must happen here, inside the scope, and not in the caller's await after the scope has ended.
function startedInScope<T>(result: T): T | Promise<unknown> {
  if (result instanceof Promise || !isThenable(result)) return result;
  return new Promise((resolve, reject) => {
    result.then(resolve, reject);
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The current scope's context, or undefined outside any scope. */
export function getAuditContext(): AuditContext | undefined {
  return storage.getStore()?.context;
}

/** The current scope itself, for the pg instrumentation. */
export function currentAuditScope(): AuditScope | undefined {
  return storage.getStore();
}

/** `fn`, made to run in the current scope (or in none) wherever it is called from. */
export function bindToAuditScope<A extends unknown[], R>(fn: (this: unknown, ...args: A) => R): (...args: A) => R {
  const scope = storage.getStore();
  return function inCallersScope(this: unknown, ...args: A): R {
    return scope === undefined
      ? storage.exit(() => fn.apply(this, args))
      : storage.run(scope, () => fn.apply(this, args));
  };
}

/** Calls `fn` with `args` in `scope`: for work that belongs to a scope but is started from outside it. */
export function inAuditScope<A extends unknown[], R>(scope: AuditScope, fn: (...args: A) => R, ...args: A): R {
  return storage.run(scope, fn, ...args);
}

/** Runs `fn` in no scope: for a pool's own work, which belongs to no request. */
export function outsideAuditScope<R>(fn: () => R): R {
  return storage.exit(fn);
}

/** Sets the actor of the current scope, for changes made from now on (e.g. in auth middleware); null clears it. */
export function setAuditActor(actor: AuditActor | null | undefined): void {
  requireScope('setAuditActor').update({ actor });
}

/** Sets the change reason of the current scope, for changes made from now on. */
export function setChangeReason(reason: string | undefined): void {
  requireScope('setChangeReason').update({ reason });
}

/** Runs `fn` with a change reason (in a scope of its own, inside the current one if any); thenables as withAuditContext. */
export function withChangeReason<T>(reason: string, fn: () => PromiseLike<T>): Promise<T>;
export function withChangeReason<T>(reason: string, fn: () => T): T;
export function withChangeReason<T>(reason: string, fn: () => T): T {
  return withAuditContext({ reason }, fn);
}

/** Wraps a function so that every call runs with the given change reason; thenables as withAuditContext. */
export function changeReason<A extends unknown[], R>(
  reason: string,
  fn: (...args: A) => PromiseLike<R>,
): (...args: A) => Promise<R>;
export function changeReason<A extends unknown[], R>(reason: string, fn: (...args: A) => R): (...args: A) => R;
export function changeReason<A extends unknown[], R>(reason: string, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A) => withChangeReason(reason, () => fn(...args));
}

function requireScope(caller: string): AuditScope {
  const scope = storage.getStore();
  if (!scope) {
    throw new Error(
      `auditrum: ${caller}() was called outside an audit context; run the code inside withAuditContext() or the audit middleware`,
    );
  }
  return scope;
}

function mergeMeta(
  outer: Record<string, unknown> | undefined,
  inner: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  return outer && inner ? { ...outer, ...inner } : (inner ?? outer);
}

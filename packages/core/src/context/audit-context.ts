import { AsyncLocalStorage } from 'node:async_hooks';

/** Who made a change: an application user, service account or job. */
export interface AuditActor {
  id: string;
  label?: string;
}

/** Where a change came from. `http`, `job`, `cli` and `migration` are the usual ones; writes with no context get `db`. */
export type AuditSource = 'http' | 'job' | 'cli' | 'migration' | 'app' | (string & {});

/** What is known about the code that is changing data; every field is optional. */
export interface AuditContextInput {
  /**
   * The actor, or a function that finds it: asked again at each change, so a user that auth sets later in the
   * request (often after a first query) is seen, and a user who logs out is not.
   */
  actor?: AuditActor | (() => AuditActor | undefined);
  /** Why: a ticket, a refund number, a sentence. */
  reason?: string;
  source?: AuditSource;
  requestId?: string;
  method?: string;
  /** The route pattern, or a function that finds it (asked at each change, like `actor`). */
  route?: string | (() => string | undefined);
  path?: string;
  ip?: string;
  userAgent?: string;
  /** Anything else worth keeping with each change; JSON-serialisable. */
  meta?: Record<string, unknown>;
}

/** The context of the current scope, as stored with each change. */
export interface AuditContext extends Omit<AuditContextInput, 'actor' | 'route'> {
  actor?: AuditActor;
  route?: string;
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

  constructor(input: AuditContextInput) {
    this.#input = input;
  }

  /** The context with the actor and route resolved; the same object until the scope or a getter's answer changes. */
  get context(): AuditContext {
    const { actor, route } = this.#input;
    const actorNow = typeof actor === 'function' ? actor() : actor;
    const routeNow = typeof route === 'function' ? route() : route;
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
 */
export function withAuditContext<T>(context: AuditContextInput, fn: () => T): T {
  const outer = storage.getStore();
  const input: AuditContextInput = outer ? { ...outer.input, ...context } : context;
  const meta = mergeMeta(outer?.input.meta, context.meta);
  if (meta !== undefined) input.meta = meta;
  return storage.run(new AuditScope(input), fn);
}

/** The current scope's context, or undefined outside any scope. */
export function getAuditContext(): AuditContext | undefined {
  return storage.getStore()?.context;
}

/** The current scope itself, for the pg instrumentation. */
export function currentAuditScope(): AuditScope | undefined {
  return storage.getStore();
}

/** Sets the actor of the current scope, for changes made from now on (e.g. in auth middleware). */
export function setAuditActor(actor: AuditActor | undefined): void {
  requireScope('setAuditActor').update({ actor });
}

/** Sets the change reason of the current scope, for changes made from now on. */
export function setChangeReason(reason: string | undefined): void {
  requireScope('setChangeReason').update({ reason });
}

/** Runs `fn` with a change reason (in a scope of its own, inside the current one if any). */
export function withChangeReason<T>(reason: string, fn: () => T): T {
  return withAuditContext({ reason }, fn);
}

/** Wraps a function so that every call runs with the given change reason. */
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

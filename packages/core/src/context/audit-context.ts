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
  /** The actor, or a function that finds it when a change first needs it (auth often runs later). */
  actor?: AuditActor | (() => AuditActor | undefined);
  /** Why: a ticket, a refund number, a sentence. */
  reason?: string;
  source?: AuditSource;
  requestId?: string;
  method?: string;
  route?: string;
  path?: string;
  ip?: string;
  userAgent?: string;
  /** Anything else worth keeping with each change; JSON-serialisable. */
  meta?: Record<string, unknown>;
}

/** The context of the current scope, as stored with each change. */
export interface AuditContext extends Omit<AuditContextInput, 'actor'> {
  actor?: AuditActor;
}

/**
 * One scope's state. Mutable only through setAuditActor/setChangeReason on the scope that owns it, so that
 * late-known facts (the user after auth) reach every later query of the same request.
 */
export class AuditScope {
  #input: AuditContextInput;
  #resolved: AuditContext | undefined;

  constructor(input: AuditContextInput) {
    this.#input = input;
  }

  /** The context with the actor resolved; memoised until the scope changes. */
  get context(): AuditContext {
    if (this.#resolved === undefined) {
      const { actor, ...rest } = this.#input;
      const resolved = typeof actor === 'function' ? actor() : actor;
      this.#resolved = resolved === undefined ? rest : { ...rest, actor: resolved };
    }
    return this.#resolved;
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

  /** Bumped on every update, so serialised forms can be cached per version. */
  version = 0;
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

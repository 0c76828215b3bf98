import type { EventEmitter } from 'node:events';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditScope } from '../context/audit-context.js';
import { currentAuditScope, inAuditScope } from '../context/audit-context.js';

// The audit scope of each request's IncomingMessage and ServerResponse: a WeakMap rather than a property of the
// message (see SCOPES_KEY in http-audit.ts), shared by every copy of this module in the process, as is the patch.
const SCOPES_KEY = Symbol.for('auditrum.http-message-scopes');
const PATCHED = Symbol.for('auditrum.http-message-emit');
const registry = globalThis as { [SCOPES_KEY]?: unknown };
registry[SCOPES_KEY] ??= new WeakMap();
const shared = registry[SCOPES_KEY];
const messageScopes: WeakMap<object, AuditScope> = shared instanceof WeakMap ? shared : new WeakMap();

/**
 * Makes the events of a request's messages (`end`, `close`, `aborted` of the request; `finish`, `close` of the
 * response) run in the request's audit scope. Node emits them from the connection's socket, in the async context
 * the connection was opened in (none): a listener the app added in its handler (`req.on('end', save)`,
 * `res.on('finish', record)`) would otherwise send its statements without the request's context. An event emitted
 * while a scope opened inside the request's is current (`withChangeReason` in a handler) keeps that scope.
 */
export function runEventsInScope(req: IncomingMessage, res: ServerResponse, scope: AuditScope): void {
  patchEmit(IncomingMessage.prototype);
  patchEmit(ServerResponse.prototype);
  messageScopes.set(req, scope);
  messageScopes.set(res, scope);
}

// On the prototypes, once per process: a closure per request would give each message a hidden class of its own.
function patchEmit(proto: EventEmitter & { [PATCHED]?: true }): void {
  if (Object.hasOwn(proto, PATCHED)) return;
  const emit = proto.emit;
  proto.emit = function emitInRequestScope(this: EventEmitter, ...args: Parameters<EventEmitter['emit']>): boolean {
    const scope = messageScopes.get(this);
    if (scope === undefined || currentAuditScope()?.isWithin(scope)) return emit.apply(this, args);
    // Reflect.apply rather than a closure: no allocation per event.
    return inAuditScope(scope, Reflect.apply, emit, this, args) as boolean;
  };
  Object.defineProperty(proto, PATCHED, { value: true });
}

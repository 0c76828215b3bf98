// Shared by copies of @auditrum/core, like the context store: a copy that instruments pg counts for all.
const STATE_KEY = Symbol.for('auditrum.instrumented-clients');
const globals = globalThis as { [STATE_KEY]?: { instrumented: boolean; checkPending: boolean; warned: boolean } };
globals[STATE_KEY] ??= { instrumented: false, checkPending: false, warned: false };
const state = globals[STATE_KEY];

/** The warning's code, for `process.on('warning')` and `node --disable-warning=…`. */
export const NO_INSTRUMENTED_CLIENT = 'AUDITRUM_NO_INSTRUMENTED_CLIENT';

/** Called when a copy of pg (or a pool) is instrumented: from then on, contexts can reach statements. */
export function noteInstrumentedClient(): void {
  state.instrumented = true;
}

/**
 * Called when an audit scope starts. If no pg is instrumented by the end of the current turn of the event loop
 * (createAuditrum() and the HTTP middleware instrument it; an app that makes them at start-up is done long
 * before its first scope), no statement of that scope could carry its context: say so, once. This is the case
 * of an app whose statements go through a client that is not pg-based (postgres.js) and nothing else.
 */
export function checkInstrumentedClient(): void {
  if (state.instrumented || state.checkPending || state.warned) return;
  state.checkPending = true;
  setImmediate(() => {
    state.checkPending = false;
    if (state.instrumented || state.warned) return;
    state.warned = true;
    process.emitWarning(
      'an audit context is in use, but no pg client is instrumented, so no statement carries it and changes are ' +
        'logged without actor. Create the Auditrum instance (createAuditrum) or call instrumentPg() at start-up; ' +
        'clients not built on pg, such as postgres.js, are not supported (see docs/context.md).',
      { type: 'AuditrumWarning', code: NO_INSTRUMENTED_CLIENT },
    );
  }).unref();
}

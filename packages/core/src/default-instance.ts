import type { Auditrum } from './auditrum.js';

// On globalThis, so that two copies of the package in one process (a bundler, a nested install) still agree.
const DEFAULT_INSTANCE = Symbol.for('auditrum.default-instance');
const registry = globalThis as { [DEFAULT_INSTANCE]?: Auditrum };

/**
 * The instance the process configured first with createAuditrum(), until it is closed. The middleware and the
 * admin fall back to it when given no database, so that `app.use(auditMiddleware())` follows the start-up code.
 */
export function defaultAuditrum(): Auditrum | undefined {
  return registry[DEFAULT_INSTANCE];
}

export function registerDefaultAuditrum(instance: Auditrum): void {
  registry[DEFAULT_INSTANCE] ??= instance;
}

export function unregisterDefaultAuditrum(instance: Auditrum): void {
  if (registry[DEFAULT_INSTANCE] === instance) delete registry[DEFAULT_INSTANCE];
}

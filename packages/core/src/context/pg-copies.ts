import Module, { createRequire } from 'node:module';
import type pg from 'pg';

type PgModule = typeof pg;
type Instrument = (module: PgModule) => void;
type Load = (request: string, parent: unknown, isMain: boolean) => unknown;

// A copy of pg is its package's entry file, wherever the package manager put it (…/node_modules/pg/lib/index.js).
const PG_ENTRY = /[\\/]node_modules[\\/]pg[\\/]lib[\\/]index\.js$/;

// One hook per process, even with two copies of @auditrum/core: it calls the instrumentation it was given first
// (both copies share the context store, so either copy's instrumentation is right).
const HOOK_KEY = Symbol.for('auditrum.pg-load-hook');
const globals = globalThis as { [HOOK_KEY]?: true };
const moduleInternals = Module as unknown as { _load: Load };

/**
 * Instruments every copy of `pg` in the process: those already loaded, and those loaded from now on.
 * Libraries that pin a version of their own (pg-promise) load a second copy that the application never sees.
 */
export function instrumentEveryLoadedPg(instrument: Instrument): void {
  const cache = createRequire(import.meta.url).cache;
  for (const [filename, loaded] of Object.entries(cache)) {
    if (PG_ENTRY.test(filename) && isPg(loaded?.exports)) instrument(loaded.exports);
  }
  if (globals[HOOK_KEY]) return;
  globals[HOOK_KEY] = true;
  // Module._load sees both require('pg') and an ES module's import of pg (with the resolved file name).
  const load = moduleInternals._load;
  moduleInternals._load = function loadAndInstrumentPg(this: unknown, request, parent, isMain) {
    const exports = load.call(this, request, parent, isMain);
    if ((request === 'pg' || PG_ENTRY.test(request)) && isPg(exports)) instrument(exports);
    return exports;
  };
}

function isPg(exports: unknown): exports is PgModule {
  const candidate = exports as Partial<PgModule> | undefined;
  return typeof candidate?.Client?.prototype?.query === 'function' && typeof candidate.Pool === 'function';
}

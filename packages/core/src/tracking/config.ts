import type { TableRules } from './table-rules.js';
import { rulesToSql } from './table-rules.js';

/** The declarative configuration that `auditrum sync` applies: which tables are tracked, with which rules. */
export interface AuditrumConfig {
  /** Schema of Auditrum's tables and functions; default `auditrum` (the CLI's `--schema` wins). */
  schema?: string;
  /** Tracked tables by name (`schema.table`, quoted as in SQL when mixed-case) and their rules. */
  tables?: Record<string, TableRules>;
  /**
   * Database schemas tracked as a whole, by name as stored (`shop`, `MyApp`): every table of the schema but those
   * in `except`, with `rules` (a table also named in `tables` has the rules given there).
   */
  schemas?: Record<string, SchemaTracking>;
}

/** How a database schema is tracked as a whole. */
export interface SchemaTracking {
  /** Tables of the schema to leave out, by bare name as stored (`sessions`, `Carts`). */
  except?: readonly string[];
  /** The rules of the schema's tables; default none (each table's primary key, every column). */
  rules?: TableRules;
  /**
   * Track tables as they are created (CREATE TABLE, CREATE TABLE AS, SELECT INTO), with an event trigger that
   * needs a superuser at migrate time; default false. Either way `sync` tracks them and `sync --check` reports
   * them while they are not.
   */
  trackNew?: boolean;
}

/** Identity helper that types a config file: `export default defineConfig({ tables: { ... } })`. */
export function defineConfig(config: AuditrumConfig): AuditrumConfig {
  return config;
}

const CONFIG_KEYS = ['schema', 'tables', 'schemas'] as const;
const SCHEMA_KEYS = ['except', 'rules', 'trackNew'] as const;

/** Checks a config loaded from a file (unknown keys, wrong types, bad rules); the error names the culprit. */
export function validateConfig(config: unknown, source = 'config'): AuditrumConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`auditrum: ${source} must export an object ({ tables: { ... } } or { schemas: { ... } })`);
  }
  const record = config as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !(CONFIG_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw new TypeError(
      `auditrum: ${source}: unknown key ${unknown.map((key) => `"${key}"`).join(', ')} (known: ${CONFIG_KEYS.join(', ')})`,
    );
  }
  if (record.schema !== undefined && (typeof record.schema !== 'string' || record.schema === '')) {
    throw new TypeError(`auditrum: ${source}: "schema" must be a non-empty string`);
  }
  if (record.tables === undefined && record.schemas === undefined) {
    throw new TypeError(`auditrum: ${source}: give "tables", "schemas" or both`);
  }
  const tables = record.tables ?? {};
  if (!isPlainObject(tables)) {
    throw new TypeError(`auditrum: ${source}: "tables" must be an object of table names to rules`);
  }
  for (const [table, rules] of Object.entries(tables)) {
    if (table.trim() === '') throw new TypeError(`auditrum: ${source}: a table name is empty`);
    checkRules(source, table, rules);
  }
  const schemas = record.schemas ?? {};
  if (!isPlainObject(schemas)) {
    throw new TypeError(`auditrum: ${source}: "schemas" must be an object of database schema names to settings`);
  }
  for (const [name, tracking] of Object.entries(schemas)) {
    const at = `schemas[${JSON.stringify(name)}]`;
    if (name.trim() === '') throw new TypeError(`auditrum: ${source}: a schema name in "schemas" is empty`);
    if (!isPlainObject(tracking)) {
      throw new TypeError(`auditrum: ${source}: ${at} must be an object ({ except, rules, trackNew })`);
    }
    const unknownKeys = Object.keys(tracking).filter((key) => !(SCHEMA_KEYS as readonly string[]).includes(key));
    if (unknownKeys.length > 0) {
      throw new TypeError(
        `auditrum: ${source}: unknown key ${unknownKeys.map((key) => `"${key}"`).join(', ')} in ${at} (known: ${SCHEMA_KEYS.join(', ')})`,
      );
    }
    const { except, rules, trackNew } = tracking as SchemaTracking;
    if (except !== undefined && (!Array.isArray(except) || except.some((t) => typeof t !== 'string' || t === ''))) {
      throw new TypeError(`auditrum: ${source}: ${at}.except must be a list of table names`);
    }
    if (trackNew !== undefined && typeof trackNew !== 'boolean') {
      throw new TypeError(`auditrum: ${source}: ${at}.trackNew must be true or false`);
    }
    if (rules !== undefined) checkRules(source, `${at}.rules`, rules);
  }
  return record as AuditrumConfig;
}

function checkRules(source: string, table: string, rules: unknown): void {
  try {
    rulesToSql(table, rules as TableRules);
  } catch (error) {
    throw new TypeError(`auditrum: ${source}: ${(error as Error).message.replace(/^auditrum: /, '')}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

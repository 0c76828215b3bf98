import type { TableRules } from './table-rules.js';
import { rulesToSql } from './table-rules.js';

/** The declarative configuration that `auditrum sync` applies: which tables are tracked, with which rules. */
export interface AuditrumConfig {
  /** Schema of Auditrum's tables and functions; default `auditrum` (the CLI's `--schema` wins). */
  schema?: string;
  /** Tracked tables by name (`schema.table`, quoted as in SQL when mixed-case) and their rules. */
  tables: Record<string, TableRules>;
}

/** Identity helper that types a config file: `export default defineConfig({ tables: { ... } })`. */
export function defineConfig(config: AuditrumConfig): AuditrumConfig {
  return config;
}

const CONFIG_KEYS = ['schema', 'tables'] as const;

/** Checks a config loaded from a file (unknown keys, wrong types, bad rules); the error names the culprit. */
export function validateConfig(config: unknown, source = 'config'): AuditrumConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new TypeError(`auditrum: ${source} must export an object ({ tables: { ... } })`);
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
  const tables = record.tables;
  if (tables === null || typeof tables !== 'object' || Array.isArray(tables)) {
    throw new TypeError(`auditrum: ${source}: "tables" must be an object of table names to rules`);
  }
  for (const [table, rules] of Object.entries(tables)) {
    if (table.trim() === '') throw new TypeError(`auditrum: ${source}: a table name is empty`);
    try {
      rulesToSql(table, rules as TableRules);
    } catch (error) {
      throw new TypeError(`auditrum: ${source}: ${(error as Error).message.replace(/^auditrum: /, '')}`);
    }
  }
  return record as unknown as AuditrumConfig;
}

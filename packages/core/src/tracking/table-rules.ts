/** What to record of one table. Rules apply alike to old and new values of INSERT, UPDATE and DELETE. */
export interface TableRules {
  /** Record only these columns. */
  only?: readonly string[];
  /** Record every column but these (e.g. `updated_at`). */
  exclude?: readonly string[];
  /** Record that these columns changed, not their values: a keyed hash (equal values stay equal) or a marker. */
  mask?: readonly string[];
  /** How masked values are stored; default `hash`. */
  maskMode?: 'hash' | 'marker';
  /** Key columns for tables without a primary key (default: the primary key). */
  key?: readonly string[];
  /** SQL boolean over `NEW` and `OLD` (all NULL for INSERT's OLD and DELETE's NEW); a change is kept when true. */
  when?: string;
  /**
   * Values larger than this many bytes (1 to 134,217,727; default 1 MiB) are recorded as a marker with their size
   * and SHA-256, `{"$auditrum": "oversized", "bytes": n, "sha256": "…"}`, never whole.
   */
  maxValueBytes?: number;
}

const RULE_NAMES = ['only', 'exclude', 'mask', 'maskMode', 'key', 'when', 'maxValueBytes'] as const;

/** The default of `maxValueBytes` (the schema's _default_max_value_bytes()). */
export const DEFAULT_MAX_VALUE_BYTES = 1_048_576;
/** The largest `maxValueBytes`: under half of jsonb's 256 MB, so that a bytea value's hex form fits too. */
export const MAX_VALUE_BYTES_LIMIT = 134_217_727;

/** Checks rules given from JavaScript (or a config file) and converts them to the SQL function's JSON. */
export function rulesToSql(table: string, rules: TableRules): Record<string, unknown> {
  if (rules === null || typeof rules !== 'object' || Array.isArray(rules)) {
    throw new TypeError(`auditrum: rules for table ${table} must be an object`);
  }
  const unknown = Object.keys(rules).filter((name) => !(RULE_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new TypeError(
      `auditrum: unknown rule ${unknown.map((name) => `"${name}"`).join(', ')} for table ${table} (known: ${RULE_NAMES.join(', ')})`,
    );
  }
  for (const name of ['only', 'exclude', 'mask', 'key'] as const) {
    const value = rules[name];
    if (value === undefined) continue;
    if (!Array.isArray(value) || value.some((column) => typeof column !== 'string' || column.length === 0)) {
      throw new TypeError(`auditrum: rule "${name}" for table ${table} must be a list of column names`);
    }
  }
  if (rules.maskMode !== undefined && rules.maskMode !== 'hash' && rules.maskMode !== 'marker') {
    throw new TypeError(`auditrum: rule "maskMode" for table ${table} must be "hash" or "marker"`);
  }
  if (rules.when !== undefined && (typeof rules.when !== 'string' || rules.when.trim() === '')) {
    throw new TypeError(`auditrum: rule "when" for table ${table} must be a non-empty SQL expression`);
  }
  const { maxValueBytes } = rules;
  if (
    maxValueBytes !== undefined &&
    !(Number.isInteger(maxValueBytes) && maxValueBytes >= 1 && maxValueBytes <= MAX_VALUE_BYTES_LIMIT)
  ) {
    throw new TypeError(
      `auditrum: rule "maxValueBytes" for table ${table} must be a whole number of bytes from 1 to ${MAX_VALUE_BYTES_LIMIT}`,
    );
  }
  const sql: Record<string, unknown> = {};
  if (rules.only) sql.only = rules.only;
  if (rules.exclude) sql.exclude = rules.exclude;
  if (rules.mask) sql.mask = rules.mask;
  if (rules.maskMode) sql.mask_mode = rules.maskMode;
  if (rules.key) sql.key = rules.key;
  if (rules.when) sql.when = rules.when;
  if (maxValueBytes !== undefined) sql.max_value_bytes = maxValueBytes;
  return sql;
}

/** The rules as the database reports them (snake_case JSON) in the TableRules shape. */
export function rulesFromSql(json: Record<string, unknown>): TableRules & { key: string[] } {
  const rules: TableRules & { key: string[] } = { key: json.key as string[] };
  if (json.only) rules.only = json.only as string[];
  if (json.exclude) rules.exclude = json.exclude as string[];
  if (json.mask) rules.mask = json.mask as string[];
  if (json.mask_mode) rules.maskMode = json.mask_mode as 'hash' | 'marker';
  if (json.when) rules.when = json.when as string;
  if (typeof json.max_value_bytes === 'number') rules.maxValueBytes = json.max_value_bytes;
  return rules;
}

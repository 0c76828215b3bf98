import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { inTransaction } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { AuditrumConfig, SchemaTracking } from './config.js';
import { validateConfig } from './config.js';
import type { TrackedTableStatus } from './status.js';
import { status } from './status.js';
import type { TableRules } from './table-rules.js';
import { rulesToSql } from './table-rules.js';
import type { TrackResult } from './track.js';
import { resolveTable, tablesOfSchema, trackIn, untrackIn } from './track.js';
import type { TrackedSchemaStatus } from './tracked-schemas.js';
import { registerSchema, unregisterSchema } from './tracked-schemas.js';

/** One table's (or one schema tracked as a whole's) difference between the config and the database. */
export interface SyncEntry {
  /** The table as `schema.table` (quoted where SQL needs it), or a schema tracked as a whole as `schema.*`. */
  table: string;
  /**
   * `add`: not tracked (registered) yet; `change`: other rules, drifted, or capture triggers missing or disabled;
   * `remove`: tracked (registered) but not in the config; `same`.
   */
  kind: 'add' | 'change' | 'remove' | 'same';
  /** What differs, e.g. `only: [a] → [a,b]`; for `remove` without `prune`, that the table is kept. */
  details: string[];
  /** What track() or untrack() did (or, in a dry run, would do). */
  result?: TrackResult;
  /**
   * What still keeps the table's changes from being recorded after sync (or would, in a dry run): rules that
   * replace its writes (DO INSTEAD), which sync leaves to their owner, or (in a dry run) why a table of a schema
   * tracked as a whole cannot be tracked. The database stays out of sync.
   */
  unrepaired?: string[];
}

export interface SyncOptions {
  /** Untrack tracked tables that the config does not name, and forget schemas it no longer tracks as a whole. */
  prune?: boolean;
  /** Compute and validate everything, then roll back: nothing changes. */
  dryRun?: boolean;
}

export interface SyncResult {
  /** One entry per table of the config (named or of its schemas), per tracked table not in it, per schema. */
  entries: SyncEntry[];
  /** No table needs tracking, a change or (with `prune`) untracking, and nothing is left unrepaired. */
  inSync: boolean;
}

interface WantedTable {
  /** The name as the config gives it. */
  table: string;
  rules: TableRules;
  /** For a table of a schema tracked as a whole, that schema: errors name it. */
  fromSchema?: string;
}

/**
 * Brings the tracked tables in line with `config`: tracks tables that are missing (named in `tables`, or of a
 * schema in `schemas`), have other rules, drifted or lost capture triggers, registers the schemas tracked as a
 * whole, and with `prune` untracks tables (and forgets schemas) the config does not name. Everything runs in one
 * transaction, so a bad table, column or condition anywhere in the config changes nothing.
 */
export async function sync(
  db: Queryable,
  schema: string,
  config: AuditrumConfig,
  options: SyncOptions = {},
): Promise<SyncResult> {
  const { tables = {}, schemas = {} } = validateConfig(config);
  return inTransaction(
    db,
    async (client) => {
      const current = await status(client, schema);
      const tracked = new Map(current.tables.map((t) => [t.table, t]));
      const entries: SyncEntry[] = [];
      const named = new Map<string, string>();
      for (const wanted of await wantedTables(client, tables, schemas)) {
        const { name, relid, primaryKey } = await describeTable(client, wanted.table);
        const earlier = named.get(name);
        if (earlier !== undefined) {
          throw new Error(`auditrum: table ${name} is named twice in the config (${earlier}, ${wanted.table})`);
        }
        named.set(name, wanted.table);
        const have = tracked.get(name);
        const details = have ? differences(wanted.rules, primaryKey, have) : ['(not tracked)'];
        const kind = !have ? 'add' : details.length > 0 ? 'change' : 'same';
        const entry: SyncEntry = { table: name, kind, details };
        if (kind !== 'same' && wanted.fromSchema !== undefined && options.dryRun) {
          // A check reports a new table of a schema that cannot be tracked (no primary key) as a difference, and
          // goes on; applying fails on it, naming it, and changes nothing.
          await client.query('SAVEPOINT auditrum_schema_table');
          try {
            entry.result = await trackFromConfig(client, schema, wanted);
            await client.query('RELEASE SAVEPOINT auditrum_schema_table');
          } catch (error) {
            await client.query('ROLLBACK TO SAVEPOINT auditrum_schema_table');
            entry.unrepaired = [(error as Error).message.replace(/^auditrum: /, '')];
          }
        } else if (kind !== 'same') {
          entry.result = await trackFromConfig(client, schema, wanted);
        }
        if (entry.result) {
          const left = await captureProblems(client, schema, relid);
          if (left.length > 0) entry.unrepaired = left;
        }
        entries.push(entry);
      }
      for (const have of tracked.values()) {
        if (named.has(have.table)) continue;
        const entry: SyncEntry = {
          table: have.table,
          kind: 'remove',
          details: [options.prune ? '(not in config)' : '(not in config; kept: pass --prune to untrack)'],
        };
        if (options.prune) entry.result = await untrackIn(client, schema, have.table);
        entries.push(entry);
      }
      entries.push(...(await syncSchemas(client, schema, schemas, current.schemas, options.prune === true)));
      entries.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
      const inSync = entries.every(
        (e) => (e.kind === 'same' || (e.kind === 'remove' && !options.prune)) && e.unrepaired === undefined,
      );
      return { entries, inSync };
    },
    { rollback: options.dryRun === true },
  );
}

/** The tables named in `tables`, then the other tables of each schema in `schemas` (but its `except`). */
async function wantedTables(
  client: pg.ClientBase,
  tables: Record<string, TableRules>,
  schemas: Record<string, SchemaTracking>,
): Promise<WantedTable[]> {
  const wanted: WantedTable[] = Object.entries(tables).map(([table, rules]) => ({ table, rules }));
  const namedRelids = new Map<number, string>();
  for (const { table } of wanted) namedRelids.set(await resolveTable(client, table), table);
  for (const [databaseSchema, tracking] of Object.entries(schemas)) {
    const at = `schemas[${JSON.stringify(databaseSchema)}]`;
    const except = new Set(tracking.except ?? []);
    for (const bare of except) {
      const relid = await relidIn(client, databaseSchema, bare);
      if (relid === null) {
        throw new Error(`auditrum: ${at}.except: table ${qualified(databaseSchema, bare)} does not exist`);
      }
      const table = namedRelids.get(relid);
      if (table !== undefined) {
        throw new Error(`auditrum: table ${table} is both in "tables" and in ${at}.except`);
      }
    }
    const covered = (await schemaTables(client, databaseSchema)).filter(
      ({ relid, bare }) => !namedRelids.has(relid) && !except.has(bare),
    );
    const rules = tracking.rules ?? {};
    // A schema's exclude and mask apply to the tables that have those columns; a column in none is a typo.
    for (const name of ['exclude', 'mask'] as const) {
      const missing = (rules[name] ?? []).find((column) => !covered.some((t) => t.columns.includes(column)));
      if (missing !== undefined && covered.length > 0) {
        throw new Error(
          `auditrum: ${at}.rules.${name}: no table of schema ${sqlName(databaseSchema)} has a column "${missing}"`,
        );
      }
    }
    for (const { table, columns } of covered) {
      const own: TableRules = { ...rules };
      for (const name of ['exclude', 'mask'] as const) {
        if (rules[name]) own[name] = rules[name].filter((column) => columns.includes(column));
      }
      wanted.push({ table, rules: own, fromSchema: databaseSchema });
    }
  }
  return wanted;
}

/** trackIn() with the config's rules; an error about a table of a whole schema says how to give it other rules. */
async function trackFromConfig(client: pg.ClientBase, schema: string, wanted: WantedTable): Promise<TrackResult> {
  try {
    return await trackIn(client, schema, wanted.table, rulesToSql(wanted.table, wanted.rules));
  } catch (error) {
    if (wanted.fromSchema === undefined || !(error instanceof Error)) throw error;
    const at = `schemas[${JSON.stringify(wanted.fromSchema)}]`;
    error.message += ` (a table of ${at}: give it its own rules in "tables", or leave it out with ${at}.except)`;
    throw error;
  }
}

/** Registers the config's schemas (tracked as a whole) and reports the registry's differences as `schema.*`. */
async function syncSchemas(
  client: pg.ClientBase,
  schema: string,
  schemas: Record<string, SchemaTracking>,
  registered: readonly TrackedSchemaStatus[],
  prune: boolean,
): Promise<SyncEntry[]> {
  const entries: SyncEntry[] = [];
  const byName = new Map(registered.map((r) => [r.schema, r]));
  for (const [databaseSchema, tracking] of Object.entries(schemas)) {
    const want = {
      schema: databaseSchema,
      except: [...new Set(tracking.except ?? [])].sort(),
      rules: rulesToSql(`${databaseSchema}.*`, tracking.rules ?? {}),
      trackNew: tracking.trackNew === true,
    };
    const have = byName.get(databaseSchema);
    const details: string[] = [];
    if (!have) details.push(want.trackNew ? '(not registered; new tables tracked as created)' : '(not registered)');
    else {
      if (want.except.join('\0') !== [...have.except].sort().join('\0')) {
        details.push(`except: ${list(have.except)} → ${list(want.except)}`);
      }
      const haveRules = JSON.stringify(rulesToSql(`${databaseSchema}.*`, have.rules));
      if (haveRules !== JSON.stringify(want.rules)) details.push(`rules: ${haveRules} → ${JSON.stringify(want.rules)}`);
      if (have.trackNew !== want.trackNew) details.push(`trackNew: ${have.trackNew} → ${want.trackNew}`);
    }
    const kind = !have ? 'add' : details.length > 0 ? 'change' : 'same';
    if (kind !== 'same') await registerSchema(client, schema, want);
    entries.push({ table: `${sqlName(databaseSchema)}.*`, kind, details });
  }
  for (const have of registered) {
    if (have.schema in schemas) continue;
    const details = [
      prune ? '(not in config; its tables stay tracked)' : '(not in config; kept: pass --prune to forget)',
    ];
    if (prune) await unregisterSchema(client, schema, have.schema);
    entries.push({ table: `${sqlName(have.schema)}.*`, kind: 'remove', details });
  }
  return entries;
}

/** The differences between desired rules and a tracked table, as `rule: before → after`; empty when none. */
function differences(rules: TableRules, primaryKey: string[] | null, current: TrackedTableStatus): string[] {
  const have = current.rules;
  const details: string[] = [];
  const sameSet = (a: readonly string[] = [], b: readonly string[] = []) =>
    a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');
  if ((rules.only === undefined) !== (have.only === undefined) || !sameSet(rules.only, have.only)) {
    details.push(`only: ${list(have.only)} → ${list(rules.only)}`);
  }
  for (const name of ['exclude', 'mask'] as const) {
    if (!sameSet(rules[name], have[name])) details.push(`${name}: ${list(have[name])} → ${list(rules[name])}`);
  }
  if ((rules.mask?.length ?? 0) > 0 && (rules.maskMode ?? 'hash') !== (have.maskMode ?? 'hash')) {
    details.push(`maskMode: ${have.maskMode ?? 'hash'} → ${rules.maskMode ?? 'hash'}`);
  }
  const key = rules.key ?? primaryKey;
  if (key === null || key.join('\0') !== have.key.join('\0')) {
    details.push(`key: ${list(have.key)} → ${key === null ? '(primary key)' : list(key)}`);
  }
  if ((rules.when ?? '').trim() !== (have.when ?? '').trim()) {
    details.push(`when: ${have.when ?? '(none)'} → ${rules.when ?? '(none)'}`);
  }
  if (rules.maxValueBytes !== have.maxValueBytes) {
    details.push(`maxValueBytes: ${have.maxValueBytes ?? '(default)'} → ${rules.maxValueBytes ?? '(default)'}`);
  }
  if (current.drifted) details.push('capture function out of date');
  details.push(...current.problems);
  return details;
}

function list(columns: readonly string[] | undefined): string {
  return columns === undefined ? '(none)' : `[${columns.join(',')}]`;
}

/** The table's canonical name and primary key columns (null without one); an error names an unknown table. */
async function describeTable(
  client: pg.ClientBase,
  table: string,
): Promise<{ name: string; relid: number; primaryKey: string[] | null }> {
  const relid = await resolveTable(client, table);
  const { rows } = await client.query<{ name: string; primary_key: string[] | null }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name,
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord), pg_attribute a
        WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid AND a.attnum = k.attnum) AS primary_key
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`,
    [relid],
  );
  const row = rows[0];
  if (!row) throw new Error(`auditrum: table ${JSON.stringify(table)} does not exist`);
  return { name: row.name, relid, primaryKey: row.primary_key };
}

/** What keeps the table's changes from being recorded (see TrackedTableStatus.problems). */
async function captureProblems(client: pg.ClientBase, schema: string, relid: number): Promise<string[]> {
  const { rows } = await client.query<{ problem: string }>(
    `SELECT problem FROM ${quoteIdentifier(schema)}._capture_problems(ARRAY[$1::oid])`,
    [relid],
  );
  return rows.map((row) => row.problem);
}

/** The oid of table `bare` (a name as stored) of `databaseSchema`, or null. */
async function relidIn(client: pg.ClientBase, databaseSchema: string, bare: string): Promise<number | null> {
  const { rows } = await client.query<{ relid: number }>(
    `SELECT c.oid AS relid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [databaseSchema, bare],
  );
  return rows[0] ? Number(rows[0].relid) : null;
}

/** The tables of a database schema that tracking a whole schema covers (those of tablesOfSchema()). */
async function schemaTables(
  client: pg.ClientBase,
  databaseSchema: string,
): Promise<{ table: string; relid: number; bare: string; columns: string[] }[]> {
  const names = await tablesOfSchema(client, databaseSchema);
  const { rows } = await client.query<{ table: string; relid: number; bare: string; columns: string[] }>(
    `SELECT name AS table, c.oid AS relid, c.relname AS bare,
       ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS columns
     FROM unnest($1::text[]) WITH ORDINALITY AS t(name, ord) JOIN pg_class c ON c.oid = to_regclass(name)
     ORDER BY ord`,
    [names],
  );
  return rows.map((row) => ({ ...row, relid: Number(row.relid) }));
}

function qualified(databaseSchema: string, bare: string): string {
  return `${sqlName(databaseSchema)}.${sqlName(bare)}`;
}

/** A name as format('%I') prints it for the usual names: bare when lower-case, quoted otherwise. */
function sqlName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : quoteIdentifier(name);
}

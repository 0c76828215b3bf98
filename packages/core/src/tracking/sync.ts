import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { inTransaction } from '../db/queryable.js';
import type { AuditrumConfig } from './config.js';
import { validateConfig } from './config.js';
import type { TrackedTableStatus } from './status.js';
import { status } from './status.js';
import type { TableRules } from './table-rules.js';
import { rulesToSql } from './table-rules.js';
import type { TrackResult } from './track.js';
import { resolveTable, trackIn, untrackIn } from './track.js';

/** One table's difference between the config and the database. */
export interface SyncEntry {
  /** The table as `schema.table` (quoted where SQL needs it). */
  table: string;
  /** `add`: not tracked yet; `change`: other rules or drifted; `remove`: tracked but not in the config; `same`. */
  kind: 'add' | 'change' | 'remove' | 'same';
  /** What differs, e.g. `only: [a] → [a,b]`; for `remove` without `prune`, that the table is kept. */
  details: string[];
  /** What track() or untrack() did (or, in a dry run, would do). */
  result?: TrackResult;
}

export interface SyncOptions {
  /** Untrack tracked tables that the config does not name. */
  prune?: boolean;
  /** Compute and validate everything, then roll back: nothing changes. */
  dryRun?: boolean;
}

export interface SyncResult {
  /** One entry per table of the config and per tracked table not in it, by table name. */
  entries: SyncEntry[];
  /** No table needs tracking, a change or (with `prune`) untracking. */
  inSync: boolean;
}

/**
 * Brings the tracked tables in line with `config`: tracks tables that are missing, have other rules or drifted,
 * and with `prune` untracks tables the config does not name. Everything runs in one transaction, so a bad
 * table, column or condition anywhere in the config changes nothing.
 */
export async function sync(
  db: Queryable,
  schema: string,
  config: AuditrumConfig,
  options: SyncOptions = {},
): Promise<SyncResult> {
  const { tables } = validateConfig(config);
  const wanted = Object.entries(tables).map(([table, rules]) => ({ table, rules, sqlRules: rulesToSql(table, rules) }));
  return inTransaction(
    db,
    async (client) => {
      const tracked = new Map((await status(client, schema)).tables.map((t) => [t.table, t]));
      const entries: SyncEntry[] = [];
      const named = new Map<string, string>();
      for (const { table, rules, sqlRules } of wanted) {
        const { name, primaryKey } = await describeTable(client, table);
        const earlier = named.get(name);
        if (earlier !== undefined) {
          throw new Error(`auditrum: table ${name} is named twice in the config (${earlier}, ${table})`);
        }
        named.set(name, table);
        const current = tracked.get(name);
        const details = current ? differences(rules, primaryKey, current) : ['(not tracked)'];
        const kind = !current ? 'add' : details.length > 0 ? 'change' : 'same';
        const entry: SyncEntry = { table: name, kind, details };
        if (kind !== 'same') entry.result = await trackIn(client, schema, table, sqlRules);
        entries.push(entry);
      }
      for (const current of tracked.values()) {
        if (named.has(current.table)) continue;
        const entry: SyncEntry = {
          table: current.table,
          kind: 'remove',
          details: [options.prune ? '(not in config)' : '(not in config; kept: pass --prune to untrack)'],
        };
        if (options.prune) entry.result = await untrackIn(client, schema, current.table);
        entries.push(entry);
      }
      entries.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
      const inSync = entries.every((e) => e.kind === 'same' || (e.kind === 'remove' && !options.prune));
      return { entries, inSync };
    },
    { rollback: options.dryRun === true },
  );
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
  if (current.enabledTriggers !== 4) details.push(`${current.enabledTriggers} of 4 capture triggers enabled`);
  return details;
}

function list(columns: readonly string[] | undefined): string {
  return columns === undefined ? '(none)' : `[${columns.join(',')}]`;
}

/** The table's canonical name and primary key columns (null without one); an error names an unknown table. */
async function describeTable(
  client: pg.ClientBase,
  table: string,
): Promise<{ name: string; primaryKey: string[] | null }> {
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
  return { name: row.name, primaryKey: row.primary_key };
}

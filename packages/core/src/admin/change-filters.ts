import type { TransactionName } from '../changes/transaction-name.js';
import { parseTransactionName, TRANSACTION_NAME, transactionStretch } from '../changes/transaction-name.js';
import { restorePending } from '../schema/restore-boundary.js';
import { changeActorConditions, changeKeyConditions, erasureChangesCondition } from './actor-pseudonyms.js';
import type { AdminScope } from './admin-options.js';
import type { ApiContext } from './api-context.js';
import type { ChangeFilters, ChangeOperation, TableRef } from './api-types.js';
import { AdminError, badParameter } from './errors.js';
import type { QueryParams } from './query-params.js';
import { assertRange, MAX_KEY_TEXT } from './query-params.js';
import type { SqlParams } from './sql-builder.js';
import { escapeLike } from './sql-builder.js';
import { isAmbiguous, qualifiedName, tablesNamed } from './tables.js';
import type { TransactionIds } from './transaction-ids.js';
import { transactionIds } from './transaction-ids.js';
import type { IdRange } from './window-ids.js';
import { windowIds } from './window-ids.js';

export const OPERATIONS: readonly ChangeOperation[] = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'DDL'];
/** Sources are free-form in the context (AuditSource); a filter value is a short token. */
const SOURCE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** An erasure's id: a bigint, as digits without leading zeros. */
const ERASURE = /^[1-9]\d{0,18}$/;
const BIGINT_MAX = 9223372036854775807n;
/** A change's source as the admin shows it; the expression of the optional changes_source_idx (docs/admin.md). */
const SOURCE_SQL = `coalesce(c.context ->> 'source', 'db')`;
/** The sources the optional changes_source_idx leaves out, because they are most of the log. */
const COMMON_SOURCES = ['http', 'app'];

/** The change filters of one request, validated, with the table resolved to ids. */
export interface ChangeCriteria {
  /** Set when the filter or the scope restricts tables; an empty list matches nothing. */
  tableIds: number[] | undefined;
  /** Every visible table, for index probes per table. */
  allTableIds: number[];
  operation: ChangeOperation | undefined;
  actors: string[];
  /** The changes this erasure touched: an erased actor's (under its pseudonym) or an erased row's. */
  erasure: string | undefined;
  request: string | undefined;
  /** The database transaction: every change it made, whatever its source (HTTP, job, psql). */
  txid: TransactionName | undefined;
  /** The ids that transaction's changes can have (resolveChangeCriteria: the seals around it, the admin's blocks). */
  txidIds?: TransactionIds | undefined;
  /** UPDATEs that changed this column (as the column was named when the change was recorded). */
  column: string | undefined;
  key: string | undefined;
  source: string | undefined;
  from: string | undefined;
  to: string | undefined;
  /** The ids the changes before `to` (from `from`) lie between, when the summaries of ended months say (window-ids.ts). */
  windowIds?: IdRange | undefined;
  q: string | undefined;
}

/**
 * The tables a scope lets the user see; undefined when it does not narrow tables. An entry that names more than one
 * table without quotes (`a.b.c`: `"a"."b.c"` and `"a.b"."c"`) lets neither be seen: a scope is a permission.
 */
export function visibleTables(tables: readonly TableRef[], scope: AdminScope | undefined): TableRef[] {
  if (scope?.tables === undefined) return [...tables];
  const allowed = new Set<TableRef>();
  for (const entry of scope.tables) {
    const named = tablesNamed(entry, tables);
    if (!isAmbiguous(named)) for (const table of named) allowed.add(table);
  }
  return tables.filter((table) => allowed.has(table));
}

/** A `schema.table` parameter resolved among the visible tables; out-of-scope tables are as unknown as missing ones. */
export function resolveTable(name: string, parameter: string, visible: readonly TableRef[]): TableRef {
  const named = tablesNamed(name, visible);
  if (isAmbiguous(named)) {
    throw badParameter(
      parameter,
      `"${name}" names more than one table (${named.map(qualifiedName).join(', ')}); quote the part that holds the dot`,
    );
  }
  // The first is the tracked one, then the newest (loadTables' order).
  const table = named[0];
  if (!table)
    throw badParameter(parameter, `unknown table "${name}"; give schema.table of a tracked table (see api/tables)`);
  return table;
}

export function parseChangeCriteria(
  // Only the names of ChangeFilters: the UI builds its filters from the same type.
  params: QueryParams<keyof ChangeFilters>,
  tables: readonly TableRef[],
  scope: AdminScope | undefined,
): ChangeCriteria {
  const visible = visibleTables(tables, scope);
  const tableName = params.text('table', 300);
  const key = params.text('key', MAX_KEY_TEXT);
  let tableIds: number[] | undefined;
  if (tableName !== undefined) tableIds = [resolveTable(tableName, 'table', visible).id];
  // A key alone still uses the (table_id, row_key, id) index: one probe per table instead of a scan.
  else if (scope?.tables !== undefined || key !== undefined) tableIds = visible.map((table) => table.id);
  const actor = params.text('actor');
  const source = params.matching('source', SOURCE, 'a source such as http, job, cli, migration, app or db');
  const from = params.instant('from');
  const to = params.instant('to');
  assertRange(from, to);
  return {
    tableIds,
    allTableIds: visible.map((table) => table.id),
    operation: params.oneOf('operation', OPERATIONS),
    actors: [actor, scope?.actor].filter((value): value is string => value !== undefined),
    erasure: erasureFilter(params),
    request: params.text('request'),
    txid: transactionId(params),
    column: params.text('column', 63),
    key,
    source,
    from,
    to,
    q: params.text('q', 200),
  };
}

/**
 * parseChangeCriteria, with the ids the changes can have: for a transaction (a few small queries), and before a
 * time in months that have ended (one).
 */
export async function resolveChangeCriteria(
  api: ApiContext,
  params: QueryParams<keyof ChangeFilters>,
): Promise<ChangeCriteria> {
  const criteria = parseChangeCriteria(params, api.tables, api.scope);
  const { from, to } = criteria;
  const windowed = to === undefined ? criteria : { ...criteria, windowIds: await windowIds(api, from, to) };
  if (criteria.txid === undefined) return windowed;
  // On a restored log whose boundary is not recorded, a txid may name a restored transaction and one of this cluster.
  const pending = await restorePending(api.pool, api.schemaSql);
  if (pending !== null) throw new AdminError('conflict', `txid: ${pending}`, 'txid');
  const stretch = await transactionStretch(api.pool, api.schemaSql, criteria.txid);
  if (stretch === undefined)
    throw badParameter('txid', `names restore boundary ${criteria.txid.boundary}, which this log has not`);
  return { ...windowed, txidIds: await transactionIds(api, stretch) };
}

/** The `erasure` filter (of changes and of API calls): an erasure's id, within bigint. */
export function erasureFilter(params: QueryParams<'erasure'>): string | undefined {
  const erasure = params.matching('erasure', ERASURE, "an erasure's id (digits)");
  if (erasure !== undefined && BigInt(erasure) > BIGINT_MAX) throw badParameter('erasure', 'is larger than any id');
  return erasure;
}

/** The `txid` filter: a transaction's name (`txid`, or `txid@n` in a restored log), its txid within bigint. */
function transactionId(params: QueryParams<keyof ChangeFilters>): TransactionName | undefined {
  const text = params.matching('txid', TRANSACTION_NAME, 'a transaction id (digits, or digits@boundary)');
  if (text === undefined) return undefined;
  const name = parseTransactionName(text);
  if (name === undefined) throw badParameter('txid', 'is larger than any transaction id');
  return name;
}

/**
 * The WHERE conditions on `changes c` (of the schema `schemaSql`) for the criteria, except the search in values
 * (searchConditions).
 */
export function changeConditions(criteria: ChangeCriteria, sql: SqlParams, schemaSql: string): string[] {
  const conditions: string[] = [];
  const { tableIds } = criteria;
  if (tableIds !== undefined) {
    conditions.push(
      tableIds.length === 1 ? `c.table_id = ${sql.add(tableIds[0])}` : `c.table_id = ANY (${sql.add(tableIds)}::int[])`,
    );
  }
  conditions.push(...testedConditions(criteria, ['operation'], sql));
  if (criteria.operation === 'TRUNCATE' || criteria.operation === 'DDL') {
    // TRUNCATE and DDL rows are rare, and the only rows stored without a key: (table_id, row_key IS NULL) probes
    // of changes_row_idx find them without walking the log.
    conditions.push('c.row_key IS NULL');
    if (tableIds === undefined) conditions.push(`c.table_id = ANY (${sql.add(criteria.allTableIds)}::int[])`);
  }
  for (const actor of criteria.actors) conditions.push(...changeActorConditions(schemaSql, actor, sql));
  if (criteria.erasure !== undefined) conditions.push(erasureChangesCondition(schemaSql, criteria.erasure, sql));
  if (criteria.request !== undefined) conditions.push(`c.request_id = ${sql.add(criteria.request)}`);
  // No index on txid in the current month: the transaction's changes are read within the ids the seals around it
  // allow (migration 18) and the ranges the admin's summary of transactions names (transaction-blocks.ts: its blocks,
  // and the first to last id in each month that has ended, from their txid index), each range a probe of the primary
  // key; the whole log when neither bounds it.
  if (criteria.txid !== undefined) conditions.push(`c.txid = ${sql.add(criteria.txid.txid)}::bigint`);
  if (criteria.txidIds?.after != null) conditions.push(`c.id > ${sql.add(criteria.txidIds.after)}::bigint`);
  if (criteria.txidIds?.upTo != null) conditions.push(`c.id <= ${sql.add(criteria.txidIds.upTo)}::bigint`);
  const blocks = criteria.txidIds?.blocks;
  if (blocks !== undefined) {
    const ranges = blocks.ranges.map((r) => `c.id > ${sql.add(r.from)}::bigint AND c.id <= ${sql.add(r.to)}::bigint`);
    conditions.push(`(${[...ranges, `c.id > ${sql.add(blocks.after)}::bigint`].join(' OR ')})`);
  }
  conditions.push(...testedConditions(criteria, ['column'], sql));
  if (criteria.key !== undefined) conditions.push(...changeKeyConditions(schemaSql, criteria.key, sql));
  conditions.push(...testedConditions(criteria, ['source'], sql));
  if (criteria.from !== undefined) conditions.push(`c.changed_at >= ${sql.add(criteria.from)}::timestamptz`);
  if (criteria.to !== undefined) conditions.push(`c.changed_at < ${sql.add(criteria.to)}::timestamptz`);
  // The window's ids start and stop the walk of an ended month's primary key (or of the actor's index), which its
  // times cannot.
  if (criteria.windowIds !== undefined) {
    conditions.push(
      `c.id >= ${sql.add(criteria.windowIds.first)}::bigint`,
      `c.id <= ${sql.add(criteria.windowIds.last)}::bigint`,
    );
  }
  return conditions;
}

/**
 * The filters that an index may not serve: when none does, a page reads the rows that match the others in bounded
 * batches and tests these on each (value-search.ts) instead of walking the whole log for a value, column or source
 * that few rows have.
 */
export type TestedFilter = 'q' | 'column' | 'source' | 'operation';

/** Each tested filter's conditions on `changes c`, for the criteria (none when the filter is not given). */
const TESTED_CONDITIONS: Record<TestedFilter, (criteria: ChangeCriteria, sql: SqlParams) => string[]> = {
  operation: (criteria, sql) =>
    criteria.operation === undefined ? [] : [`c.operation = ${sql.add(criteria.operation)}`],
  q: (criteria, sql) => (criteria.q === undefined ? [] : searchConditions(criteria.q, sql)),
  // An UPDATE stores only the changed columns, so "changed status" is "has the key".
  column: (criteria, sql) =>
    criteria.column === undefined ? [] : [`c.operation = 'UPDATE'`, `c.new_values ? ${sql.add(criteria.column)}`],
  // Writes with no application context carry {source: 'db', db_user, ...}; a context without a source counts as db.
  source: ({ source }, sql) => {
    if (source === undefined) return [];
    // The second lets the planner use the optional partial index of the rarer sources (docs/admin.md), whose
    // predicate it is.
    const rare = COMMON_SOURCES.includes(source) ? [] : [`${SOURCE_SQL} NOT IN ('http', 'app')`];
    return [`${SOURCE_SQL} = ${sql.add(source)}`, ...rare];
  },
};

/** The conditions of the given tested filters, in that order. */
export function testedConditions(criteria: ChangeCriteria, filters: readonly TestedFilter[], sql: SqlParams): string[] {
  return filters.flatMap((filter) => TESTED_CONDITIONS[filter](criteria, sql));
}

/** The criteria without the given tested filters: what a bounded batch reads before testing those. */
export function withoutTested(criteria: ChangeCriteria, filters: readonly TestedFilter[]): ChangeCriteria {
  return { ...criteria, ...Object.fromEntries(filters.map((filter) => [filter, undefined])) };
}

/**
 * The search in changed values (q): a cheap test on the JSON text first (it also sees keys; its expression is the
 * one of the trigram index made by enable_value_search()), then the precise one on values only.
 */
export function searchConditions(q: string, sql: SqlParams): string[] {
  const pattern = sql.add(`%${escapeLike(q)}%`);
  return [
    `(coalesce(c.old_values::text, '') || coalesce(c.new_values::text, '')) ILIKE ${pattern}`,
    `EXISTS (SELECT 1 FROM jsonb_each_text(coalesce(c.old_values, '{}')) o WHERE o.value ILIKE ${pattern}
      UNION ALL SELECT 1 FROM jsonb_each_text(coalesce(c.new_values, '{}')) n WHERE n.value ILIKE ${pattern})`,
  ];
}

/** The scope's narrowing of changes, for queries that take no user filters. */
export function scopeConditions(api: Pick<ApiContext, 'tables' | 'scope' | 'schemaSql'>, sql: SqlParams): string[] {
  const conditions: string[] = [];
  if (api.scope?.tables !== undefined) {
    conditions.push(`c.table_id = ANY (${sql.add(visibleTables(api.tables, api.scope).map((t) => t.id))}::int[])`);
  }
  if (api.scope?.actor !== undefined) conditions.push(...changeActorConditions(api.schemaSql, api.scope.actor, sql));
  return conditions;
}

import type { ApiContext } from './api-context.js';
import type { ActorsResponse, ReadRouteParams } from './api-types.js';
import { scopeConditions } from './change-filters.js';
import type { QueryParams } from './query-params.js';
import { SqlParams, whereClause } from './sql-builder.js';

/** The newest changes with an actor that suggestions are taken from: the people active lately, at a bounded cost. */
export const RECENT_CHANGES = 5000;
const SUGGESTIONS = 10;

/**
 * `GET api/actors?q=`: up to ten actors of the recent changes whose id or latest label contains `q` (any case),
 * the latest active first: what the admin suggests as a user types in the actor filter, which takes an id. Read
 * from the newest changes only (an index scan that stops, however long the log); an actor not among them is still
 * found by its id in the filter.
 */
export async function suggestActors(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['actors']>,
): Promise<ActorsResponse> {
  const q = (params.text('q', 200) ?? '').toLowerCase();
  const sql = new SqlParams();
  const conditions = ['c.actor_id IS NOT NULL', ...scopeConditions(api, sql)];
  const { rows } = await api.pool.query<{ id: string; label: string | null }>(
    `SELECT r.actor_id AS id, (array_agg(r.label ORDER BY r.id DESC) FILTER (WHERE r.label IS NOT NULL))[1] AS label
     FROM (SELECT c.id, c.actor_id, c.context ->> 'actor_label' AS label FROM ${api.schemaSql}.changes c
           WHERE ${whereClause(conditions)} ORDER BY c.id DESC LIMIT ${RECENT_CHANGES}) r
     GROUP BY r.actor_id
     HAVING strpos(lower(r.actor_id), ${sql.add(q)}) > 0
       OR bool_or(strpos(lower(coalesce(r.label, '')), ${sql.add(q)}) > 0)
     ORDER BY max(r.id) DESC
     LIMIT ${SUGGESTIONS}`,
    sql.values,
  );
  return { actors: rows.map((row) => ({ id: row.id, label: row.label })) };
}

import { erasureOfActorId } from '../compliance/erasure-records.js';
import { unreadable } from '../compliance/read-access.js';
import { changeActorConditions } from './actor-pseudonyms.js';
import type { ApiContext } from './api-context.js';
import type { ActorRef, ActorsResponse, ReadRouteParams } from './api-types.js';
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
  return { actors: await realActors(api, rows) };
}

/**
 * The suggestions but those whose id reads as an erasure's pseudonym and names no real actor's change: the filter
 * takes an id as a real actor's (changeActorConditions), so it would find nothing; the erased actor's changes are the
 * `erasure` filter's. Asked only for such ids (none: no query); a role that may not read the erasures' records cannot
 * tell, and keeps them.
 */
async function realActors(api: ApiContext, actors: readonly ActorRef[]): Promise<ActorRef[]> {
  const lookalikes = actors.filter((actor) => erasureOfActorId(actor.id) !== null);
  if (lookalikes.length === 0 || (await unreadable(api.pool, api.schema, ['erasures', 'erased_changes'])).length > 0) {
    return [...actors];
  }
  const erasedOnly = new Set<string>();
  for (const actor of lookalikes) {
    const sql = new SqlParams();
    const conditions = [...changeActorConditions(api.schemaSql, actor.id, sql), ...scopeConditions(api, sql)];
    const { rows } = await api.pool.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT FROM ${api.schemaSql}.changes c WHERE ${whereClause(conditions)}) AS found`,
      sql.values,
    );
    if (rows[0]?.found !== true) erasedOnly.add(actor.id);
  }
  return actors.filter((actor) => !erasedOnly.has(actor.id));
}

import { erasuresOfChange } from '../compliance/erasure-events.js';
import { ERASED_VALUE } from '../compliance/erasure-records.js';
import { integrityStatus } from '../compliance/integrity-status.js';
import { unreadable } from '../compliance/read-access.js';
import type { ApiContext } from './api-context.js';
import type { ChangeErasuresResponse, IntegrityResponse, ReadRouteParams } from './api-types.js';
import { scopeConditions } from './change-filters.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { AdminError, badParameter, notFound } from './errors.js';
import type { QueryParams } from './query-params.js';
import { SqlParams, whereClause } from './sql-builder.js';

const BIGINT_ID = /^\d{1,19}$/;

/**
 * `GET api/integrity`: the integrity panel's status (integrityStatus), its erasures a page at a time. The chain, the
 * verify runs, the purges and the erasures cover the whole log and name people (an erasure's subject), so a scope
 * narrowed to some tables or one actor may not see them (403).
 */
export async function integrityRoute(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['integrity']>,
): Promise<IntegrityResponse> {
  if (api.scope?.tables !== undefined || api.scope?.actor !== undefined) {
    throw new AdminError(
      'forbidden',
      'your scope shows part of the log; the integrity panel (the chain, verify runs, purges, erasures) covers all of it',
    );
  }
  const limit = params.limit();
  const cursor = params.text('cursor', 64);
  const before = cursor === undefined ? undefined : decodeCursor('erasures', cursor);
  const status = await integrityStatus(api.pool, api.schema, { erasuresLimit: limit, erasuresBefore: before });
  if (!status.readable) return status;
  const { total, items, nextBefore } = status.erasures;
  return {
    ...status,
    erasures: { total, items, nextCursor: nextBefore === null ? null : encodeCursor('erasures', nextBefore) },
  };
}

/**
 * `GET api/erasures?change=ID`: the erasures that touched a change the request may see (404 otherwise, as
 * `api/changes/:id`), with the marker erased values hold and whether its actor id is an erasure's pseudonym, so that
 * its page shows an erased value as erased, with the erasure's reason and time.
 */
export async function changeErasuresRoute(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['erasures']>,
): Promise<ChangeErasuresResponse> {
  const change = params.required('change', 32);
  if (!BIGINT_ID.test(change) || BigInt(change) > 9223372036854775807n) {
    throw badParameter('change', 'must be a change id (digits)');
  }
  const missing = await unreadable(api.pool, api.schema, ['erasures', 'erased_changes']);
  if (missing.length > 0) {
    throw new AdminError('forbidden', `the admin's database role may not read ${missing.join(', ')}`);
  }
  const sql = new SqlParams();
  const conditions = [`c.id = ${sql.add(change)}::bigint`, ...scopeConditions(api, sql)];
  const { rows } = await api.pool.query<{ actor_id: string | null; row_key: string | null }>(
    `SELECT c.actor_id, c.row_key FROM ${api.schemaSql}.changes c WHERE ${whereClause(conditions)}`,
    sql.values,
  );
  const row = rows[0];
  if (row === undefined) throw notFound(`change ${change} not found`);
  const erasures = await erasuresOfChange(api.pool, api.schema, change);
  // Only an erasure of an actor (of a key) that touched this change makes its actor id (its key) that erasure's
  // pseudonym: an application may name an actor, or a row, so.
  const erasureNamed = (value: string | null, pseudonym: 'actorPseudonym' | 'keyPseudonym') =>
    erasures.find((erasure) => value !== null && erasure[pseudonym] === value)?.id ?? null;
  return {
    erasures,
    marker: ERASED_VALUE,
    actorErasure: erasureNamed(row.actor_id, 'actorPseudonym'),
    keyErasure: erasureNamed(row.row_key, 'keyPseudonym'),
  };
}

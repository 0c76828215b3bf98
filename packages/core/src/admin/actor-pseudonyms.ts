import { erasureOfActorId } from '../compliance/erasure-records.js';
import { unreadable } from '../compliance/read-access.js';
import type { ApiContext } from './api-context.js';
import type { SqlParams } from './sql-builder.js';

/**
 * The conditions on `changes c` for the changes a real actor made. An actor id that reads as an erasure's pseudonym
 * (`erased:7`) may be a real one (actor ids are any text the application gives): only the erasure's own record
 * (erased_changes of an erasure of an actor) says which changes hold the pseudonym, and those are left
 * out. Any other id costs nothing more than the actor index.
 */
export function changeActorConditions(schemaSql: string, actorId: string, sql: SqlParams): string[] {
  const condition = `c.actor_id = ${sql.add(actorId)}`;
  const erasure = erasureOfActorId(actorId);
  if (erasure === null) return [condition];
  return [
    condition,
    `NOT EXISTS (SELECT FROM ${schemaSql}.erased_changes e JOIN ${schemaSql}.erasures x ON x.id = e.erasure_id
      WHERE e.change_id = c.id AND e.erasure_id = ${sql.add(erasure)}::bigint AND x.subject ? 'actor_id')`,
  ];
}

/** The same for `api_requests r`: the rows an erasure masked are listed in erased_api_requests. */
export function requestActorConditions(schemaSql: string, actorId: string, sql: SqlParams): string[] {
  const condition = `r.actor_id = ${sql.add(actorId)}`;
  const erasure = erasureOfActorId(actorId);
  if (erasure === null) return [condition];
  return [
    condition,
    `NOT EXISTS (SELECT FROM ${schemaSql}.erased_api_requests e
      WHERE e.api_request_id = r.id AND e.erasure_id = ${sql.add(erasure)}::bigint)`,
  ];
}

/**
 * The conditions on `changes c` for the versions of a real row of key `key`. A key that reads as an erasure's key
 * pseudonym (`erased:7`) may be a real row's (a key is any text its column holds): the versions that erasure gave the
 * pseudonym (its erased_changes, when it erased a key column: _key_pseudonym_erasure) are left out; they are the
 * `erasure` filter's. Any other key costs nothing more than the (table_id, row_key, id) index.
 */
export function changeKeyConditions(schemaSql: string, key: string, sql: SqlParams): string[] {
  return [`c.row_key = ${sql.add(key)}`, ...keyPseudonymExclusion(schemaSql, key, sql)];
}

/** changeKeyConditions but the key itself: for a query that matches the key its own way. */
export function keyPseudonymExclusion(schemaSql: string, key: string, sql: SqlParams): string[] {
  if (erasureOfActorId(key) === null) return [];
  return [
    `c.id NOT IN (SELECT e.change_id FROM ${schemaSql}.erased_changes e
      WHERE e.erasure_id = ${schemaSql}._key_pseudonym_erasure(${sql.add(key)}))`,
  ];
}

/**
 * The changes one erasure touched (`erasure` filter): an erased actor's, under its pseudonym, or an erased row's.
 * Their ids first (erased_changes' index), then each read by the primary key.
 */
export function erasureChangesCondition(schemaSql: string, erasureId: string, sql: SqlParams): string {
  return `c.id = ANY (ARRAY(SELECT e.change_id FROM ${schemaSql}.erased_changes e
    WHERE e.erasure_id = ${sql.add(erasureId)}::bigint))`;
}

/** The API-log rows one erasure masked (`erasure` filter of the API log). */
export function erasureRequestsCondition(schemaSql: string, erasureId: string, sql: SqlParams): string {
  return `r.id = ANY (ARRAY(SELECT e.api_request_id FROM ${schemaSql}.erased_api_requests e
    WHERE e.erasure_id = ${sql.add(erasureId)}::bigint))`;
}

/**
 * Where each log's erasures record the rows whose actor id (`changes`, `api_requests`) or row key (`change_keys`) they
 * made a pseudonym, given `c(id, erasure)` pairs. A key's erasure is one of a row whose recorded key is the marker
 * (it erased a key column: erase() in SQL, version 35).
 */
const PSEUDONYM_RECORDS = {
  changes: {
    tables: ['erasures', 'erased_changes'],
    pairs: (s: string) => `SELECT e.change_id::text AS id, e.erasure_id::text AS erasure FROM ${s}.erased_changes e
      JOIN c ON e.change_id = c.id AND e.erasure_id = c.erasure JOIN ${s}.erasures x ON x.id = e.erasure_id
      WHERE x.subject ? 'actor_id'`,
  },
  api_requests: {
    tables: ['erased_api_requests'],
    pairs: (s: string) => `SELECT e.api_request_id::text AS id, e.erasure_id::text AS erasure
      FROM ${s}.erased_api_requests e JOIN c ON e.api_request_id = c.id AND e.erasure_id = c.erasure`,
  },
  change_keys: {
    tables: ['erasures', 'erased_changes'],
    pairs: (s: string) => `SELECT e.change_id::text AS id, e.erasure_id::text AS erasure FROM ${s}.erased_changes e
      JOIN c ON e.change_id = c.id AND e.erasure_id = c.erasure JOIN ${s}.erasures x ON x.id = e.erasure_id
      WHERE x.subject ? 'table' AND x.subject -> 'key' = to_jsonb('[erased]'::text)`,
  },
} as const;

/**
 * Of rows of a log (their ids, and the actor ids or row keys they hold), those whose text is an erasure's pseudonym,
 * with that erasure, as the erasures' records say (ActorRef.erasure, Change.keyErasure): asked only for texts that
 * read as one (none: no query). A role that may not read the records cannot tell, and gets none, as it reads an
 * erased value as the marker.
 */
export async function pseudonymErasures(
  api: Pick<ApiContext, 'pool' | 'schema' | 'schemaSql'>,
  log: keyof typeof PSEUDONYM_RECORDS,
  rows: readonly { id: string; text: string | null }[],
): Promise<Map<string, string>> {
  const candidates = rows.flatMap((row) => {
    const erasure = row.text === null ? null : erasureOfActorId(row.text);
    return erasure === null ? [] : [{ id: row.id, erasure }];
  });
  const records = PSEUDONYM_RECORDS[log];
  if (candidates.length === 0 || (await unreadable(api.pool, api.schema, records.tables)).length > 0) return new Map();
  const { rows: pairs } = await api.pool.query<{ id: string; erasure: string }>(
    `WITH c AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS c(id, erasure)) ${records.pairs(api.schemaSql)}`,
    [candidates.map((c) => c.id), candidates.map((c) => c.erasure)],
  );
  return new Map(pairs.map((pair) => [pair.id, pair.erasure]));
}

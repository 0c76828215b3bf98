import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { ErasureSubject } from './erasure-records.js';
import { ERASED_VALUE, erasedActorId } from './erasure-records.js';
import { isoUtc } from './iso-utc.js';

/** An erasure as the admin shows it: an event of the log, with who asked, why, and what it touched. */
export interface ErasureEvent {
  /** The erasure's id (a bigint, as text): `erased:<id>` is the pseudonym of an erased actor. */
  id: string;
  /** ISO 8601 in UTC, with microseconds. */
  erasedAt: string;
  /** The database role that ran it. */
  erasedBy: string;
  /** Who asked for it (the CLI's --actor, the admin's user); null when not given. */
  actor: string | null;
  reason: string;
  /**
   * Whose values: `{ actor_id }` (the id itself is not kept: with it, the pseudonym would lead back to the person, so
   * it holds the marker) or `{ table, key, columns }` (the key the marker when a key column was erased).
   */
  subject: ErasureSubject;
  /** The actor id an erased actor's changes carry now (erasedActorId), for an actor's erasure; null for a row's. */
  actorPseudonym: string | null;
  /** The row key the row's changes carry now, when the erasure took a key column (the same pseudonym); else null. */
  keyPseudonym: string | null;
  /** Change rows whose values it erased. */
  changes: number;
  /** API-log rows whose bodies it masked. */
  apiRequests: number;
}

/** The columns of an ErasureEvent, from `erasures e`. */
const ERASURE_COLUMNS = `e.id::text AS id, ${isoUtc('e.erased_at')} AS erased_at,
  e.erased_by::text AS erased_by, e.actor, e.reason, e.subject, e.changes::text AS changes,
  e.api_requests::text AS api_requests`;

interface ErasureDbRow {
  id: string;
  erased_at: string;
  erased_by: string;
  actor: string | null;
  reason: string;
  subject: ErasureSubject;
  changes: string;
  api_requests: string;
}

function toEvent(row: ErasureDbRow): ErasureEvent {
  return {
    id: row.id,
    erasedAt: row.erased_at,
    erasedBy: row.erased_by,
    actor: row.actor,
    reason: row.reason,
    subject: row.subject,
    actorPseudonym: 'actor_id' in row.subject ? erasedActorId(row.id) : null,
    keyPseudonym: 'key' in row.subject && row.subject.key === ERASED_VALUE ? erasedActorId(row.id) : null,
    changes: Number(row.changes),
    apiRequests: Number(row.api_requests),
  };
}

/** A page of erasures, newest first; `nextBefore` is the id to pass as `before` for the next page (null: the last). */
export interface ErasurePage {
  /** Erasures recorded, in all. */
  total: number;
  items: ErasureEvent[];
  nextBefore: string | null;
}

/** Erasures newest first, `limit` of them with ids below `before` (a bigint as text) when given. */
export async function listErasures(
  db: Queryable,
  schema: string,
  page: { limit: number; before?: string | undefined },
): Promise<ErasurePage> {
  const s = quoteIdentifier(schema);
  const { rows } = await db.query<ErasureDbRow>(
    `SELECT ${ERASURE_COLUMNS} FROM ${s}.erasures e
     WHERE $1::bigint IS NULL OR e.id < $1::bigint ORDER BY e.id DESC LIMIT $2`,
    [page.before ?? null, page.limit + 1],
  );
  const { rows: count } = await db.query<{ total: string }>(`SELECT count(*)::text AS total FROM ${s}.erasures`);
  const items = rows.slice(0, page.limit).map(toEvent);
  return {
    total: Number(count[0]?.total ?? 0),
    items,
    nextBefore: rows.length > page.limit ? (items.at(-1)?.id ?? null) : null,
  };
}

/** The erasures that touched one change row, oldest first (usually one: erasing replaces the values once). */
export async function erasuresOfChange(db: Queryable, schema: string, changeId: string): Promise<ErasureEvent[]> {
  const s = quoteIdentifier(schema);
  const { rows } = await db.query<ErasureDbRow>(
    `SELECT ${ERASURE_COLUMNS} FROM ${s}.erased_changes ec JOIN ${s}.erasures e ON e.id = ec.erasure_id
     WHERE ec.change_id = $1::bigint ORDER BY e.id`,
    [changeId],
  );
  return rows.map(toEvent);
}

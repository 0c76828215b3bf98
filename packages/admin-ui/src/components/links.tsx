import type { ActorRef, Change } from '@auditrum/core/admin';
import { apiLogVisible } from '../config.ts';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';

export function ActorLink({ actor, source }: { actor: ActorRef | null; source?: string }) {
  if (!actor) {
    // A change says where it came from; a request without an actor was made by someone not signed in.
    const from = source === 'db' ? 'database (no app context)' : source ? `${source}, no actor` : 'anonymous';
    return <span className="muted">{from}</span>;
  }
  // An erased actor's pseudonym: its changes are the erasure's (a real actor may have the same id).
  if (actor.erasure !== undefined) {
    return (
      <Link
        to={withQuery('/changes', { erasure: actor.erasure })}
        className="erased-actor"
        title={`the pseudonym ${actor.id} an erasure gave the actor`}
      >
        erased actor (erasure #{actor.erasure})
      </Link>
    );
  }
  return (
    <Link to={`/actors/${encodeURIComponent(actor.id)}`} title={`actor id ${actor.id}`}>
      {actor.label ?? actor.id}
    </Link>
  );
}

/** An actor given as its id, label and erasure (blame, a field's history) as ActorLink takes it. */
export function actorRef(id: string, label: string | null, erasure: string | undefined): ActorRef {
  return erasure === undefined ? { id, label } : { id, label, erasure };
}

/**
 * Who made a change: its actor, or, for a direct database write, the database role that logged in (the real
 * writer). A write whose statement claimed a context from a role that is not the application's is flagged, but
 * the claimed actor is never shown here: only on the change's page, apart, as claimed.
 */
export function ChangeActor({ change }: { change: Change }) {
  const dbUser = change.context?.db_user;
  if (change.actor || change.source !== 'db' || typeof dbUser !== 'string') {
    return <ActorLink actor={change.actor} source={change.source} />;
  }
  return (
    <span className="muted" title="a direct database write: no application context">
      database role <span className="mono">{dbUser}</span>
      {change.claimed && (
        <span className="badge badge-claimed" title="its statement claimed a context, not trusted: see the change">
          claimed context
        </span>
      )}
    </span>
  );
}

export function RequestLink({ requestId, label }: { requestId: string | null; label?: string | undefined }) {
  if (!requestId) return <span className="muted">—</span>;
  // Outside the user's scope the API log's pages answer 403: the id is shown, not linked.
  if (!apiLogVisible()) {
    return (
      <span className="mono" title={`request ${requestId}`}>
        {label ?? shortId(requestId)}
      </span>
    );
  }
  return (
    <Link to={`/requests/${encodeURIComponent(requestId)}`} className="mono" title={`request ${requestId}`}>
      {label ?? shortId(requestId)}
    </Link>
  );
}

export function HistoryLink({
  schema,
  table,
  rowKey,
  keyErasure,
  label,
}: {
  schema: string;
  table: string;
  rowKey: string | null;
  /** The erasure whose key pseudonym rowKey is (Change.keyErasure): the row's versions are that erasure's. */
  keyErasure?: string | undefined;
  label?: string;
}) {
  if (rowKey === null) return <span className="muted">—</span>;
  // A real row may have the pseudonym's text as its key: the erased row's versions are listed by its erasure.
  if (keyErasure !== undefined) {
    return (
      <Link
        to={withQuery('/changes', { erasure: keyErasure })}
        className="erased-actor"
        title={`the key ${rowKey} an erasure gave the row`}
      >
        {label ?? `erased key (erasure #${keyErasure})`}
      </Link>
    );
  }
  return (
    <Link
      to={withQuery('/history', { table: `${schema}.${table}`, key: rowKey })}
      title={`history of ${table} ${rowKey}`}
    >
      {label ?? rowKey}
    </Link>
  );
}

/** The end of a long id (UUIDv7 ids differ at the end for requests of the same millisecond). */
export function shortId(id: string): string {
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}

import type { ChangesResponse, RequestsResponse } from '@auditrum/core/admin';
import type { ReactNode } from 'react';
import { useRoute } from '../api/routes.ts';
import { ChangesTable } from '../components/ChangesTable.tsx';
import { RequestsTable } from '../components/RequestsTable.tsx';
import { Empty, ErrorMessage, Loaded, Loading } from '../components/states.tsx';
import { Time } from '../components/Time.tsx';
import { apiLogVisible } from '../config.ts';
import { countText } from '../lib/counts.ts';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';

const RECENT = '10';

export function ActorPage({ actorId }: { actorId: string }) {
  const actor = useRoute('actors/:actorId', { actorId });
  const changes = useRoute('changes', { actor: actorId, limit: RECENT });
  const withApiLog = apiLogVisible();
  const requests = useRoute('requests', withApiLog ? { actor: actorId, limit: RECENT } : null);
  if (actor.status === 'loading') return <Loading what="the actor" />;
  if (actor.status === 'error') return <ErrorMessage error={actor.error} retry={actor.retry} />;
  const {
    actor: who,
    changeCount,
    changeCountEstimated,
    requestCount,
    requestCountEstimated,
    firstSeen,
    lastSeen,
  } = actor.data;
  return (
    <>
      <p className="crumbs">
        <Link to="/changes">Changes</Link> / actor
      </p>
      <h1>{who.label ?? who.id}</h1>
      <dl className="facts panel">
        <dt>Actor id</dt>
        <dd className="mono">{who.id}</dd>
        <dt>Changes</dt>
        <dd>{countText(changeCount, changeCountEstimated)}</dd>
        {withApiLog && (
          <>
            <dt>Requests</dt>
            <dd>{countText(requestCount, requestCountEstimated)}</dd>
          </>
        )}
        <dt>First seen</dt>
        <dd>{firstSeen ? <Time iso={firstSeen} /> : <span className="muted">never</span>}</dd>
        <dt>Last seen</dt>
        <dd>{lastSeen ? <Time iso={lastSeen} /> : <span className="muted">never</span>}</dd>
      </dl>
      {withApiLog && (
        <LatestSection
          id="actor-requests"
          title="Latest requests"
          result={requests}
          none="No logged request."
          all={<Link to={withQuery('/requests', { actor: who.id })}>All requests by {who.label ?? who.id}</Link>}
        >
          {(data: RequestsResponse) => <RequestsTable requests={data.items} />}
        </LatestSection>
      )}
      <LatestSection
        id="actor-changes"
        title="Latest changes"
        result={changes}
        none="No recorded change."
        all={<Link to={withQuery('/changes', { actor: who.id })}>All changes by {who.label ?? who.id}</Link>}
      >
        {(data: ChangesResponse) => (
          <ChangesTable changes={data.items} caption={`Latest changes by ${who.label ?? who.id}`} />
        )}
      </LatestSection>
    </>
  );
}

/** One of the actor's "latest" lists: its table, or a line when empty, and the link to the whole list. */
function LatestSection<T extends { items: unknown[] }>({
  id,
  title,
  result,
  none,
  all,
  children,
}: {
  id: string;
  title: string;
  result: Parameters<typeof Loaded<T>>[0]['result'];
  none: string;
  all: ReactNode;
  children: (data: T) => ReactNode;
}) {
  return (
    <section className="panel" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <Loaded result={result} what={title.toLowerCase()}>
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>{none}</p>
            </Empty>
          ) : (
            children(data)
          )
        }
      </Loaded>
      <p>{all}</p>
    </section>
  );
}

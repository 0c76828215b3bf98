import type { ReactNode } from 'react';
import { useRoute } from '../api/routes.ts';
import { VALUE_UNKNOWN } from '../lib/unknown-value.ts';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';
import { ActorLink, actorRef, RequestLink } from './links.tsx';
import { Empty, Loaded } from './states.tsx';
import { Time } from './Time.tsx';
import { ValueView } from './ValueView.tsx';

/**
 * The recorded values of one field of a row, newest first: the row's history filtered to that field, a page at a time
 * (the newest, then older ones by the server's cursor, kept in the URL as the row's versions keep theirs).
 */
export function FieldHistoryPanel({
  table,
  rowKey,
  field,
  cursor,
}: {
  table: string;
  rowKey: string;
  field: string;
  cursor: string | null;
}) {
  const history = useRoute('field-history', { table, key: rowKey, field, cursor });
  const to = (next: string | null) => withQuery('/history', { table, key: rowKey, field, cursor: next });
  return (
    <section className="panel" aria-labelledby="field-title">
      <h2 id="field-title">
        Every value of <span className="mono">{field}</span>
      </h2>
      <p>
        <Link to={withQuery('/history', { table, key: rowKey })}>Show every version of the row</Link>
      </p>
      <Loaded result={history} what={`the values of ${field}`}>
        {(data) =>
          data.entries.length === 0 ? (
            <Empty>
              <p>No recorded value of this field.</p>
            </Empty>
          ) : (
            <>
              <ValuesList numbered={data.nextCursor === null}>
                {[...data.entries].reverse().map((entry) => (
                  <li key={entry.changeId}>
                    <span className={`op op-${entry.operation.toLowerCase()}`}>{entry.operation}</span>{' '}
                    <Time iso={entry.changedAt} /> ·{' '}
                    {entry.unknown ? (
                      <span className="value value-marker">{VALUE_UNKNOWN[entry.unknown]}</span>
                    ) : entry.operation === 'DELETE' ? (
                      <span className="muted">row deleted</span>
                    ) : (
                      <ValueView value={entry.value} />
                    )}{' '}
                    · <Link to={`/changes/${entry.changeId}`}>change {entry.changeId}</Link>
                    {entry.actorId && (
                      <>
                        {' '}
                        · by <ActorLink actor={actorRef(entry.actorId, entry.actorLabel, entry.actorErasure)} />
                      </>
                    )}
                    {entry.requestId && (
                      <>
                        {' '}
                        · request <RequestLink requestId={entry.requestId} />
                      </>
                    )}
                    {entry.reason && <> · “{entry.reason}”</>}
                  </li>
                ))}
              </ValuesList>
              {(cursor || data.nextCursor) && (
                <nav className="pager" aria-label="Values">
                  {cursor ? (
                    <Link to={to(null)}>↖ Newest values</Link>
                  ) : (
                    <span className="muted">The newest values</span>
                  )}
                  {data.nextCursor ? (
                    <Link to={to(data.nextCursor)} rel="next">
                      Older values →
                    </Link>
                  ) : (
                    <span className="muted">No older values</span>
                  )}
                </nav>
              )}
            </>
          )
        }
      </Loaded>
    </section>
  );
}

/**
 * Numbered from the oldest value, when the page reaches it; a page with older values after it holds no count to number
 * from, so it is not numbered.
 */
function ValuesList({ numbered, children }: { numbered: boolean; children: ReactNode }) {
  return numbered ? (
    <ol className="field-history" reversed>
      {children}
    </ol>
  ) : (
    <ul className="field-history">{children}</ul>
  );
}

import { useRoute } from '../api/routes.ts';
import { VALUE_UNKNOWN } from '../lib/unknown-value.ts';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';
import { ActorLink, actorRef, RequestLink } from './links.tsx';
import { Empty, Loaded } from './states.tsx';
import { Time } from './Time.tsx';
import { ValueView } from './ValueView.tsx';

/** Every recorded value of one field of a row, newest first: the row's history filtered to that field. */
export function FieldHistoryPanel({ table, rowKey, field }: { table: string; rowKey: string; field: string }) {
  const history = useRoute('field-history', { table, key: rowKey, field });
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
            <ol className="field-history" reversed>
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
            </ol>
          )
        }
      </Loaded>
    </section>
  );
}

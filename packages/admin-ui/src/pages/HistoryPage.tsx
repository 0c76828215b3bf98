import type { HistoryResponse, RowVersion } from '@auditrum/core/admin';
import type { FormEvent } from 'react';
import { useState } from 'react';
import { apiUrl } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { DiffView } from '../components/DiffView.tsx';
import { ActorLink, RequestLink } from '../components/links.tsx';
import { RecordView } from '../components/RecordView.tsx';
import { Empty, Loaded } from '../components/states.tsx';
import { Time } from '../components/Time.tsx';
import { diffRecords } from '../lib/diff.ts';
import { absoluteTime, fromDateTimeLocal, toDateTimeLocal } from '../lib/time.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';
import { navigate, withQuery } from '../router/location.ts';

/** The row before a version: the previous version's state, or what the change itself says it replaced. */
function stateBefore(versions: RowVersion[], index: number): Record<string, unknown> | null {
  const previous = versions[index - 1];
  if (previous) return previous.state;
  const { change, state } = versions[index] as RowVersion;
  if (change.operation === 'UPDATE') return { ...state, ...change.oldValues };
  if (change.operation === 'DELETE') return change.oldValues;
  return null;
}

/** A row changed thousands of times would make a page too long to use: the latest versions come first. */
const LATEST_VERSIONS = 50;

export function HistoryPage({ location }: { location: AppLocation }) {
  const [showAll, setShowAll] = useState(false);
  const table = location.search.get('table') ?? '';
  const key = location.search.get('key') ?? '';
  const at = location.search.get('at') ?? '';
  const history = useApi<HistoryResponse>(table && key ? apiUrl('history', { table, key, at }) : null);
  if (!table || !key) {
    return (
      <Empty>
        <p>Open a row's history from a change: the history page needs a table and a row key.</p>
        <Link to="/changes">Back to the changes</Link>
      </Empty>
    );
  }
  // The earliest versions are folded until asked for.
  const hidden = history.status === 'ok' && !showAll ? Math.max(0, history.data.versions.length - LATEST_VERSIONS) : 0;
  const onPickTime = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = fromDateTimeLocal(String(new FormData(event.currentTarget).get('at') ?? ''));
    navigate(withQuery('/history', { table, key, at: value }), { replace: true });
  };
  return (
    <>
      <p className="crumbs">
        <Link to={withQuery('/changes', { table })}>Changes of {table}</Link> / row {key}
      </p>
      <h1>
        History of {table} · key {key}
      </h1>
      <Loaded result={history} what="the history">
        {(data) => (
          <>
            <section className="panel" aria-labelledby="at-title">
              <h2 id="at-title">The row as it was at a chosen time</h2>
              <form className="inline-form" onSubmit={onPickTime} key={at}>
                <label>
                  Time
                  <input type="datetime-local" step="1" name="at" defaultValue={toDateTimeLocal(at)} required />
                </label>
                <button type="submit">Show the row</button>
              </form>
              {at &&
                (data.stateAt ? (
                  <>
                    <p className="muted">As it was at {absoluteTime(at)}:</p>
                    <RecordView record={data.stateAt} />
                  </>
                ) : (
                  <p className="muted">The row did not exist at {absoluteTime(at)}.</p>
                ))}
            </section>
            {data.versions.length === 0 ? (
              <Empty>
                <p>No recorded change of this row.</p>
              </Empty>
            ) : (
              <>
                {hidden > 0 && (
                  <p>
                    <button type="button" className="link-button" onClick={() => setShowAll(true)}>
                      Show the {hidden} earlier versions
                    </button>
                  </p>
                )}
                <ol className="versions" start={hidden + 1}>
                  {data.versions.map((version, index) =>
                    index < hidden ? null : (
                      <li key={version.change.id} className="panel version">
                        <h2>
                          Version {index + 1}:{' '}
                          <span className={`op op-${version.change.operation.toLowerCase()}`}>
                            {version.change.operation}
                          </span>{' '}
                          <Time iso={version.change.changedAt} />
                        </h2>
                        <p className="version-meta">
                          by <ActorLink actor={version.change.actor} source={version.change.source} />
                          {version.change.reason && <> · reason: {version.change.reason}</>}
                          {version.change.requestId && (
                            <>
                              {' '}
                              · request <RequestLink requestId={version.change.requestId} />
                            </>
                          )}{' '}
                          · <Link to={`/changes/${version.change.id}`}>change {version.change.id}</Link> ·{' '}
                          <Link
                            to={withQuery('/history', { table, key, at: version.change.changedAt })}
                            aria-label={`The row after version ${index + 1}`}
                          >
                            row after this
                          </Link>
                        </p>
                        {!version.complete && (
                          <p className="muted">
                            The row existed before its table was tracked: only the columns changed since then are known.
                          </p>
                        )}
                        <DiffView entries={diffRecords(stateBefore(data.versions, index), version.state)} />
                      </li>
                    ),
                  )}
                </ol>
              </>
            )}
          </>
        )}
      </Loaded>
    </>
  );
}

import type { AdminBlameChange, BlameUnknownReason } from '@auditrum/core/admin';
import { useRoute } from '../api/routes.ts';
import { VALUE_UNKNOWN } from '../lib/unknown-value.ts';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';
import { ActorLink, actorRef, RequestLink } from './links.tsx';
import { Loaded } from './states.tsx';
import { Time } from './Time.tsx';
import { ValueView } from './ValueView.tsx';

/** Why blame cannot say who set a field's value, in words. */
export const BLAME_UNKNOWN: Record<BlameUnknownReason, string> = {
  before_tracking: 'set before the table was tracked',
  excluded: 'not recorded: the table’s rules leave this column out',
  untracked_gap: 'may have changed while the table was not tracked',
  added_later: 'came with the column when it was added',
};

/**
 * A far future instant: "the row as of any time after its last change", i.e. as it is now (the live row where
 * nothing changed it since), whatever the browser's clock says.
 */
const NOW = '9999-12-31T00:00:00Z';

/**
 * The row as it is now, one line per field in the table's column order: its value, and who set it last, when, in
 * which request and why (blame). Each field links to its own history.
 */
export function RowBlamePanel({ table, rowKey, field }: { table: string; rowKey: string; field: string }) {
  const blame = useRoute('blame', { table, key: rowKey });
  const now = useRoute('row-as-of', { table, key: rowKey, at: NOW });
  return (
    <section className="panel" aria-labelledby="now-title">
      <h2 id="now-title">The row now, and who set each field</h2>
      <Loaded result={blame} what="who set each field">
        {(who) => (
          <Loaded result={now} what="the row">
            {(row) => (
              <>
                {who.deletedBy && (
                  <p className="muted">
                    The row was deleted <Time iso={who.deletedBy.changedAt} /> by <BlameActor change={who.deletedBy} />{' '}
                    (<Link to={`/changes/${who.deletedBy.id}`}>change {who.deletedBy.id}</Link>): these are its last
                    values.
                  </p>
                )}
                <div className="table-scroll">
                  <table className="blame-table">
                    <thead>
                      <tr>
                        <th scope="col">Field</th>
                        <th scope="col">Value</th>
                        <th scope="col">Last set</th>
                      </tr>
                    </thead>
                    <tbody>
                      {who.fields.map((blamed) => {
                        const unknown = row.unknown.find((entry) => entry.column === blamed.field);
                        const value = row.exists ? row.values[blamed.field] : blamed.newValue;
                        return (
                          <tr key={blamed.field} aria-current={blamed.field === field ? 'true' : undefined}>
                            <th scope="row" className="diff-key">
                              <Link
                                to={withQuery('/history', { table, key: rowKey, field: blamed.field })}
                                title={`every value of ${blamed.field}`}
                              >
                                {blamed.field}
                              </Link>
                            </th>
                            <td>
                              {unknown && row.exists ? (
                                <span className="value value-marker">{VALUE_UNKNOWN[unknown.reason]}</span>
                              ) : blamed.masked ? (
                                <span className="value value-marker">masked</span>
                              ) : blamed.erased && !row.exists ? (
                                // A deleted row's last value, erased from the log since: never the marker's text.
                                <span className="value value-marker">{VALUE_UNKNOWN.erased}</span>
                              ) : (
                                <ValueView value={value} />
                              )}
                            </td>
                            <td className="blame-who">
                              {blamed.change ? (
                                <BlameLine change={blamed.change} />
                              ) : (
                                <span className="muted">{BLAME_UNKNOWN[blamed.unknown ?? 'before_tracking']}</span>
                              )}
                            </td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                </div>
                {who.when && (
                  <p className="muted">
                    The table records only changes matching <span className="mono">{who.when}</span>: a field may have
                    changed since without a record.
                  </p>
                )}
              </>
            )}
          </Loaded>
        )}
      </Loaded>
    </section>
  );
}

/** Who, when, which request, why: one change as blame names it. */
function BlameLine({ change }: { change: AdminBlameChange }) {
  return (
    <>
      <BlameActor change={change} /> · <Time iso={change.changedAt} /> ·{' '}
      <Link to={`/changes/${change.id}`}>change {change.id}</Link>
      {change.requestId && (
        <>
          {' '}
          · request <RequestLink requestId={change.requestId} />
        </>
      )}
      {change.reason && <span className="blame-reason"> · “{change.reason}”</span>}
    </>
  );
}

function BlameActor({ change }: { change: AdminBlameChange }) {
  if (change.actorId) {
    return <ActorLink actor={actorRef(change.actorId, change.actorLabel, change.actorErasure)} />;
  }
  if (change.source === 'db' && change.dbUser) {
    return (
      <span className="muted">
        database role <span className="mono">{change.dbUser}</span>
      </span>
    );
  }
  return <span className="muted">{change.source}, no actor</span>;
}

import type { HistoryResponse, RowVersion } from '@auditrum/core/admin';
import { useRoute } from '../api/routes.ts';
import { useTables } from '../api/use-tables.ts';
import type { WriteTarget } from '../api/write.ts';
import { DiffView } from '../components/DiffView.tsx';
import { FieldHistoryPanel } from '../components/FieldHistoryPanel.tsx';
import { ChangeActor, RequestLink } from '../components/links.tsx';
import { RowAsOfPanel } from '../components/RowAsOfPanel.tsx';
import { RowBlamePanel } from '../components/RowBlamePanel.tsx';
import { Empty, Loaded } from '../components/states.tsx';
import { Time } from '../components/Time.tsx';
import { WriteAction } from '../components/WriteAction.tsx';
import { inColumnOrder } from '../lib/column-order.ts';
import { diffRecords } from '../lib/diff.ts';
import { ErasedValue, withErasedColumns } from '../lib/erased.ts';
import { withTooLargeValues } from '../lib/oversized.ts';
import { useTimeSettings } from '../lib/time-settings.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';
import { withQuery } from '../router/location.ts';

/**
 * The row before a version: the previous version's state, or (first of its page) what the change itself says it
 * replaced.
 */
function stateBefore(
  versions: RowVersion[],
  states: (Record<string, unknown> | null)[],
  index: number,
): Record<string, unknown> | null {
  if (index > 0) return states[index - 1] ?? null;
  const { change } = versions[index] as RowVersion;
  const oldValues = withErasedColumns(
    withTooLargeValues(change.oldValues, change.oversized?.old),
    change.erased?.old,
    null,
  );
  if (change.operation === 'UPDATE') return { ...states[index], ...oldValues };
  if (change.operation === 'DELETE') return oldValues;
  return null;
}

/**
 * Each version's state, values too large to keep and erased ones shown as such. An erased column keeps the previous
 * version's ErasedValue unless the version's change wrote it: the diff compares them by identity, so a value erased
 * in both versions reads unchanged, and one the change replaced reads changed.
 */
function versionStates(versions: RowVersion[]): (Record<string, unknown> | null)[] {
  let previous: Record<string, unknown> | null = null;
  return versions.map((version) => {
    const shown = withTooLargeValues(version.state, version.oversized);
    const erased: readonly string[] = version.erased ?? [];
    const state = shown && erased.length > 0 ? { ...shown } : shown;
    if (state !== null && erased.length > 0) {
      const written = new Set(Object.keys(version.change.newValues ?? {}));
      const fresh = new ErasedValue([]);
      for (const column of erased) {
        const before = previous?.[column];
        state[column] = before instanceof ErasedValue && !written.has(column) ? before : fresh;
      }
    }
    previous = state;
    return state;
  });
}

/**
 * How to put the row back to a version: just before the next version's change when it is on this page (exact,
 * whatever changes share a time), else as of the version's time; a DELETE that ended the row is undone by an
 * undelete. None for the row's newest version other than a DELETE: the row is in that state now.
 */
function restoreTarget(
  table: string,
  key: string,
  versions: RowVersion[],
  index: number,
  newestPage: boolean,
): { label: string; target: WriteTarget } | null {
  const version = versions[index] as RowVersion;
  const next = versions[index + 1];
  const newest = newestPage && next === undefined;
  if (version.change.operation === 'DELETE') {
    return newest ? { label: 'Restore this row', target: { route: 'undelete', body: { table, key } } } : null;
  }
  if (newest || version.change.operation === 'TRUNCATE') return null;
  const position = next ? { beforeChange: next.change.id } : { at: version.change.changedAt };
  return { label: 'Restore this version', target: { route: 'restore', body: { table, key, ...position } } };
}

/** Each version with its index in the page (oldest first, as the API gives them), newest first. */
function newestFirst(versions: RowVersion[]): [RowVersion, number][] {
  return versions.map((version, index): [RowVersion, number] => [version, index]).reverse();
}

/** Previous (newer) and Next (older) pages of a row's versions, and back to the newest. */
function VersionsPager({
  table,
  rowKey,
  at,
  data,
}: {
  table: string;
  rowKey: string;
  at: string;
  data: HistoryResponse;
}) {
  const older = data.firstNumber - 1;
  if (data.newer === null && data.nextCursor === null) return null;
  const to = (cursor: string | null) => withQuery('/history', { table, key: rowKey, at, cursor });
  return (
    <nav className="pager" aria-label="Versions">
      {data.newer ? (
        <>
          {data.newer.cursor !== null && <Link to={to(null)}>↖ Newest</Link>}
          <Link to={to(data.newer.cursor)} rel="prev">
            ← Newer versions
          </Link>
        </>
      ) : (
        <span className="muted">The newest versions</span>
      )}
      {data.nextCursor ? (
        <Link to={to(data.nextCursor)} rel="next">
          Older versions ({older}) →
        </Link>
      ) : (
        <span className="muted">No older versions</span>
      )}
    </nav>
  );
}

export function HistoryPage({ location }: { location: AppLocation }) {
  const table = location.search.get('table') ?? '';
  const key = location.search.get('key') ?? '';
  const at = location.search.get('at') ?? '';
  const field = location.search.get('field') ?? '';
  // The newest versions come first; older ones a page at a time (a row changed thousands of times stays usable).
  const cursor = location.search.get('cursor');
  const history = useRoute('history', table && key && !field ? { table, key, cursor } : null);
  const { canWrite, columnsOf } = useTables(Boolean(table && key));
  const _settings = useTimeSettings();
  const order = columnsOf(table);
  if (!table || !key) {
    return (
      <Empty>
        <p>Open a row's history from a change: the history page needs a table and a row key.</p>
        <Link to="/changes">Back to the changes</Link>
      </Empty>
    );
  }
  return (
    <>
      <p className="crumbs">
        <Link to={withQuery('/changes', { table })}>Changes of {table}</Link> / row {key}
      </p>
      <h1>
        History of {table} · key {key}
      </h1>
      <RowBlamePanel table={table} rowKey={key} field={field} />
      <RowAsOfPanel table={table} rowKey={key} at={at} columns={order} search={{ field: field || null, cursor }} />
      {field ? (
        <FieldHistoryPanel table={table} rowKey={key} field={field} cursor={cursor} />
      ) : (
        <Loaded result={history} what="the history">
          {(data) => {
            const states = versionStates(data.versions);
            return (
              <>
                {data.versions.length === 0 ? (
                  <Empty>
                    <p>No recorded change of this row.</p>
                  </Empty>
                ) : (
                  <>
                    <VersionsPager table={table} rowKey={key} at={at} data={data} />
                    {/* Newest first; each version keeps its number in the whole history. */}
                    <ol className="versions" reversed start={data.firstNumber + data.versions.length - 1}>
                      {newestFirst(data.versions).map(([version, index]) => {
                        const restore = canWrite
                          ? restoreTarget(table, key, data.versions, index, data.newer === null)
                          : null;
                        return (
                          <li key={version.change.id} className="panel version">
                            <h2>
                              Version {data.firstNumber + index}:{' '}
                              <span className={`op op-${version.change.operation.toLowerCase()}`}>
                                {version.change.operation}
                              </span>{' '}
                              <Time iso={version.change.changedAt} />
                            </h2>
                            <p className="version-meta">
                              by <ChangeActor change={version.change} />
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
                                aria-label={`The row after version ${data.firstNumber + index}`}
                              >
                                row after this
                              </Link>
                            </p>
                            {!version.complete && (
                              <p className="muted">
                                The row existed before its table was tracked: only the columns changed since then are
                                known.
                              </p>
                            )}
                            <DiffView
                              entries={diffRecords(
                                inColumnOrder(stateBefore(data.versions, states, index), order),
                                inColumnOrder(states[index] ?? null, order),
                              )}
                            />
                            {restore && (
                              <WriteAction
                                label={restore.label}
                                title={`${restore.label}: ${table}, key ${key}, version ${data.firstNumber + index}`}
                                target={restore.target}
                                onWritten={history.retry}
                              />
                            )}
                          </li>
                        );
                      })}
                    </ol>
                    <VersionsPager table={table} rowKey={key} at={at} data={data} />
                  </>
                )}
              </>
            );
          }}
        </Loaded>
      )}
    </>
  );
}

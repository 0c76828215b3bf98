import type { TableRowAsOf } from '@auditrum/core/admin';
import type { FormEvent } from 'react';
import { downloadUrl, useRoute } from '../api/routes.ts';
import { AtTimeInput } from '../components/AtTimeInput.tsx';
import { Pager } from '../components/Pager.tsx';
import { Empty, Loaded } from '../components/states.tsx';
import { ValueView } from '../components/ValueView.tsx';
import { absoluteTime, endOfPickedTime } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';
import { VALUE_UNKNOWN } from '../lib/unknown-value.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';
import { navigate, withQuery } from '../router/location.ts';

/** Why a row of unknown existence is marked: the log cannot tell whether it existed then. */
const MAY_NOT_EXIST =
  'the table was not tracked for a while between then and what the log records of this row, and the row may have been inserted or deleted then, unseen';

/**
 * A table as it was at a chosen time: its rows a page at a time in key order, a filter by key, and the whole
 * snapshot as a CSV or NDJSON download (streamed by the server). Values that cannot be known say why.
 */
export function TableAsOfPage({ location }: { location: AppLocation }) {
  const table = location.search.get('table') ?? '';
  const at = location.search.get('at') ?? '';
  const key = location.search.get('key') ?? '';
  const cursor = location.search.get('cursor');
  const settings = useTimeSettings();
  const rows = useRoute('table-as-of', table && at ? { table, at, key, cursor } : null);
  if (!table) {
    return (
      <Empty>
        <p>Pick a table to see its rows as they were at a time.</p>
        <Link to="/tables">The tables</Link>
      </Empty>
    );
  }
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    // The end of the picked second: a row changed within the second shown is as it was after that change.
    const time = endOfPickedTime(String(form.get('at') ?? ''), settings);
    navigate(withQuery('/table-as-of', { table, at: time, key: String(form.get('key') ?? '').trim() }));
  };
  return (
    <>
      <p className="crumbs">
        <Link to="/tables">Tables</Link> / <span className="mono">{table}</span>
      </p>
      <h1>
        {table} {at ? `as of ${absoluteTime(at, settings)}` : 'as of a time'}
      </h1>
      <form className="inline-form panel" onSubmit={onSubmit} key={location.key} aria-label="Time and key">
        <AtTimeInput value={at || new Date().toISOString()} />
        <label>
          Key contains
          <input name="key" defaultValue={key} autoComplete="off" />
        </label>
        <button type="submit">Show the rows</button>
      </form>
      {at && (
        <p className="toolbar">
          <span className="muted">Rows that existed then, and those that may have (marked), in key order.</span>
          <span className="exports">
            Download the whole snapshot:{' '}
            <a href={downloadUrl('table-as-of/export', { table, at, key, format: 'csv' })} download>
              CSV
            </a>{' '}
            ·{' '}
            <a href={downloadUrl('table-as-of/export', { table, at, key, format: 'ndjson' })} download>
              NDJSON
            </a>
          </span>
        </p>
      )}
      {at && (
        <Loaded result={rows} what="the rows">
          {(data) =>
            data.items.length === 0 && data.searchedTo === undefined ? (
              <Empty>
                <p>{key || cursor ? 'No more rows match.' : 'The table had no rows at that time.'}</p>
              </Empty>
            ) : (
              <>
                {data.exact && !data.items.some((row) => row.rowKey === data.exact?.rowKey) && (
                  // The row of that very key, found through the primary key beyond what this page searched.
                  <section aria-label="The row with this key">
                    <p className="muted">The row whose key is {data.exact.rowKey}:</p>
                    <SnapshotTable table={table} at={at} columns={data.columns} rows={[data.exact]} />
                  </section>
                )}
                {data.items.length > 0 && (
                  <SnapshotTable table={table} at={at} columns={data.columns} rows={data.items} />
                )}
                {data.searchedTo !== undefined && (
                  <KeySearchProgress found={data.items.length} searchedTo={data.searchedTo} />
                )}
                <Pager path="/table-as-of" search={location.search} nextCursor={data.nextCursor} />
              </>
            )
          }
        </Loaded>
      )}
    </>
  );
}

/**
 * A search by key reads a bounded part of the table per page (docs/admin.md): the notice says up to which key it
 * searched, so that a short or empty page is not taken for "no more rows match".
 */
function KeySearchProgress({ found, searchedTo }: { found: number; searchedTo: string }) {
  return (
    <p role="status">
      {found === 0 ? 'No match yet' : `${found} found`} in the keys up to <span className="mono">{searchedTo}</span>.
      Later keys are not searched yet: <strong>Next page</strong> searches further.
    </p>
  );
}

function SnapshotTable({
  table,
  at,
  columns,
  rows,
}: {
  table: string;
  at: string;
  columns: string[];
  rows: TableRowAsOf[];
}) {
  return (
    <div className="table-scroll">
      <table className="snapshot-table">
        <thead>
          <tr>
            <th scope="col">Key</th>
            {columns.map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const unknown = new Map(row.unknown.map((entry) => [entry.column, entry.reason]));
            return (
              <tr key={row.rowKey} data-row-key={row.rowKey} data-exists={row.exists ? 'true' : 'unknown'}>
                <th scope="row">
                  <Link to={withQuery('/history', { table, key: row.rowKey, at })} title="the row's history">
                    {row.rowKey}
                  </Link>
                  {row.exists === null && (
                    // Listed, not hidden: it may have been inserted or deleted unseen while the table was not tracked.
                    <span className="value value-marker" title={MAY_NOT_EXIST}>
                      {' '}
                      may not have existed
                    </span>
                  )}
                </th>
                {columns.map((column) => {
                  const reason = unknown.get(column);
                  return (
                    <td key={column}>
                      {reason ? (
                        <span className="value value-marker">{VALUE_UNKNOWN[reason]}</span>
                      ) : (
                        <ValueView value={row.values[column]} />
                      )}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

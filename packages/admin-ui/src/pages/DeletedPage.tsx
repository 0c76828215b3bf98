import type { DeletedRowItem } from '@auditrum/core/admin';
import { useRoute } from '../api/routes.ts';
import { useTables } from '../api/use-tables.ts';
import { RequestLink } from '../components/links.tsx';
import { Pager } from '../components/Pager.tsx';
import { RecordView } from '../components/RecordView.tsx';
import { searchProgress } from '../components/SearchProgress.tsx';
import { Empty, Loaded } from '../components/states.tsx';
import { Time } from '../components/Time.tsx';
import { WriteAction } from '../components/WriteAction.tsx';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';
import { withQuery } from '../router/location.ts';

/**
 * A page reads a bounded number of the current month's changes (no index holds its DELETEs): a short or empty page
 * says how far back it searched, and "Next page" searches further.
 */
const BinSearchProgress = searchProgress('changes');

/** A table's recycle bin: its rows whose last change is their DELETE, newest first, each with "Restore". */
export function DeletedPage({ location }: { location: AppLocation }) {
  const table = location.search.get('table') ?? '';
  const cursor = location.search.get('cursor');
  const deleted = useRoute('deleted', table ? { table, cursor } : null);
  const { canWrite } = useTables(table !== '');
  if (!table) {
    return (
      <Empty>
        <p>The recycle bin is per table: pick one.</p>
        <Link to="/tables">The tables</Link>
      </Empty>
    );
  }
  return (
    <>
      <p className="crumbs">
        <Link to="/tables">Tables</Link> / <span className="mono">{table}</span>
      </p>
      <h1>Recycle bin of {table}</h1>
      <Loaded result={deleted} what="the deleted rows">
        {(data) =>
          data.items.length === 0 && data.searchedTo === undefined ? (
            <Empty>
              <p>{cursor ? 'No more deleted rows.' : 'No deleted row: every row deleted has come back since.'}</p>
            </Empty>
          ) : (
            <>
              <BinSearchProgress {...data} />
              {data.items.length > 0 && (
                <ol className="deleted-rows">
                  {data.items.map((item) => (
                    <DeletedRow
                      key={item.changeId}
                      table={table}
                      item={item}
                      canWrite={canWrite}
                      retry={deleted.retry}
                    />
                  ))}
                </ol>
              )}
              <Pager path="/deleted" search={location.search} nextCursor={data.nextCursor} />
            </>
          )
        }
      </Loaded>
    </>
  );
}

function DeletedRow({
  table,
  item,
  canWrite,
  retry,
}: {
  table: string;
  item: DeletedRowItem;
  canWrite: boolean;
  retry: () => void;
}) {
  const unknown = new Map(item.unknown.map((entry) => [entry.column, entry.reason]));
  return (
    <li className="panel deleted-row" data-row-key={item.rowKey}>
      <h2>
        Key <span className="mono">{item.rowKey}</span> · deleted <Time iso={item.deletedAt} />
      </h2>
      <p className="version-meta">
        <Link to={`/changes/${item.changeId}`}>change {item.changeId}</Link>
        {item.reason && <> · reason: {item.reason}</>}
        {item.requestId && (
          <>
            {' '}
            · request <RequestLink requestId={item.requestId} />
          </>
        )}{' '}
        · <Link to={withQuery('/history', { table, key: item.rowKey })}>its history</Link>
      </p>
      <details>
        <summary>Its values when deleted ({Object.keys(item.values).length})</summary>
        <RecordView record={item.values} />
        {unknown.size > 0 && (
          <p className="muted">
            Not restorable:{' '}
            {[...unknown]
              .map(([column, reason]) => `${column} (${reason === 'masked' ? 'masked' : 'too large'})`)
              .join(', ')}
          </p>
        )}
      </details>
      {canWrite && (
        <WriteAction
          label="Restore"
          title={`Restore the deleted row ${item.rowKey} of ${table}`}
          target={{ route: 'undelete', body: { table, key: item.rowKey } }}
          onWritten={retry}
        />
      )}
    </li>
  );
}

import { useRoute } from '../api/routes.ts';
import { TableColumnsContext, useTables } from '../api/use-tables.ts';
import { ChangesTable } from '../components/ChangesTable.tsx';
import { Empty, Loaded } from '../components/states.tsx';
import { WriteAction } from '../components/WriteAction.tsx';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';

/** The most changes shown here; the changes list pages through the rest. */
const SHOWN = 200;

/**
 * One database transaction: every row change it made, wherever it came from (an HTTP request, a job, psql), with
 * "Undo all N changes" (all or nothing, newest first) for a user who may write.
 */
export function TransactionPage({ txid }: { txid: string }) {
  const changes = useRoute('changes', { txid, limit: String(SHOWN) });
  const { canWrite, columnsOf } = useTables();
  return (
    <>
      <p className="crumbs">
        <Link to="/changes">Changes</Link> / transaction <span className="mono">{txid}</span>
      </p>
      <h1>
        Transaction <span className="mono">{txid}</span>
      </h1>
      <Loaded result={changes} what="the transaction's changes">
        {(data) => {
          const count = data.items.length;
          if (count === 0) {
            return (
              <Empty>
                <p>No recorded change of this transaction (or none you may see).</p>
              </Empty>
            );
          }
          const sources = [...new Set(data.items.map((change) => change.source))];
          const more = data.nextCursor !== null;
          return (
            <section className="panel" aria-labelledby="tx-changes">
              <h2 id="tx-changes">
                {more ? `The newest ${count} row changes` : `${count} row ${count === 1 ? 'change' : 'changes'}`}
              </h2>
              <p className="muted">
                From {sources.join(', ')}. All of them were committed together, or none would be here.
              </p>
              {canWrite && (
                <div className="actions">
                  <WriteAction
                    label={
                      more
                        ? `Undo all its changes (over ${SHOWN})`
                        : count === 1
                          ? 'Undo its change'
                          : `Undo all ${count} changes`
                    }
                    title={`Undo every change of transaction ${txid}`}
                    target={{ route: 'undo', body: { txid } }}
                    onWritten={changes.retry}
                  />
                </div>
              )}
              <TableColumnsContext.Provider value={columnsOf}>
                <ChangesTable changes={data.items} caption={`Row changes of transaction ${txid}`} />
              </TableColumnsContext.Provider>
              {more && (
                <p>
                  <Link to={withQuery('/changes', { txid })}>All its changes in the changes list</Link>
                </p>
              )}
            </section>
          );
        }}
      </Loaded>
    </>
  );
}

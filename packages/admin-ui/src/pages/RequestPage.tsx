import { useRoute } from '../api/routes.ts';
import { TableColumnsContext, useTables } from '../api/use-tables.ts';
import { ChangesTable } from '../components/ChangesTable.tsx';
import { ActorLink } from '../components/links.tsx';
import { RecordView } from '../components/RecordView.tsx';
import { formatDuration, statusClass } from '../components/RequestsTable.tsx';
import { Empty, ErrorMessage, Loading } from '../components/states.tsx';
import { Time } from '../components/Time.tsx';
import { ValueView } from '../components/ValueView.tsx';
import { WriteAction } from '../components/WriteAction.tsx';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';

function Body({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <p className="muted">No body recorded.</p>;
  return <ValueView value={value} />;
}

export function RequestPage({ requestId }: { requestId: string }) {
  const result = useRoute('requests/:requestId', { requestId });
  const { canWrite, columnsOf } = useTables();
  if (result.status === 'loading') return <Loading what="the request" />;
  if (result.status === 'error') return <ErrorMessage error={result.error} retry={result.retry} />;
  const { request, changes, changeCount } = result.data;
  const changesSection = (
    <section className="panel" aria-labelledby="changes-title">
      <h2 id="changes-title">Row changes it caused ({changeCount})</h2>
      {canWrite && changeCount > 0 && (
        <div className="actions">
          <WriteAction
            label={changeCount === 1 ? 'Undo its change' : `Undo all ${changeCount} changes`}
            title={`Undo every change of request ${requestId}`}
            target={{ route: 'undo', body: { request: requestId } }}
            onWritten={result.retry}
          />
        </div>
      )}
      {changes.length === 0 ? (
        <Empty>
          <p>This call changed no tracked row.</p>
        </Empty>
      ) : (
        <>
          <TableColumnsContext.Provider value={columnsOf}>
            <ChangesTable changes={changes} caption="Row changes of this request" />
          </TableColumnsContext.Provider>
          <p>
            <Link to={withQuery('/changes', { request: requestId })}>
              {changeCount > changes.length
                ? `All ${changeCount} changes in the changes list (filters, export)`
                : 'Open them in the changes list (filters, export)'}
            </Link>
          </p>
        </>
      )}
    </section>
  );
  if (request === null) {
    return (
      <>
        <p className="crumbs">
          <Link to="/requests">Requests</Link> / <span className="mono">{requestId}</span>
        </p>
        <h1>
          Request <span className="mono">{requestId}</span>
        </h1>
        <p className="panel">
          The call itself was not logged (the API log is off for it, or it has been pruned); its changes were recorded.
        </p>
        {changesSection}
      </>
    );
  }
  return (
    <>
      <p className="crumbs">
        <Link to="/requests">Requests</Link> / <span className="mono">{request.requestId}</span>
      </p>
      <h1 className="mono">
        {request.method} {request.path}
      </h1>
      <section className="panel" aria-labelledby="call-title">
        <h2 id="call-title">The call</h2>
        <dl className="facts">
          <dt>When</dt>
          <dd>
            <Time iso={request.requestedAt} />
          </dd>
          <dt>Status</dt>
          <dd>
            <span className={`status ${statusClass(request.status)}`}>
              {request.aborted ? 'aborted by the client' : (request.status ?? 'no response')}
            </span>{' '}
            in {formatDuration(request.durationMs)}
          </dd>
          <dt>Actor</dt>
          <dd>
            <ActorLink actor={request.actor} />
          </dd>
          {request.route && (
            <>
              <dt>Route</dt>
              <dd className="mono">{request.route}</dd>
            </>
          )}
          <dt>Request id</dt>
          <dd className="mono">{request.requestId}</dd>
          <dt>Client</dt>
          <dd>
            {request.ip ?? 'unknown address'}
            {request.userAgent && <span className="muted"> · {request.userAgent}</span>}
          </dd>
          {request.error && (
            <>
              <dt>Error</dt>
              <dd className="error-text">{request.error}</dd>
            </>
          )}
        </dl>
      </section>
      {changesSection}
      <div className="columns">
        <section className="panel" aria-labelledby="req-title">
          <h2 id="req-title">Request</h2>
          <h3>Query</h3>
          <RecordView record={request.query} empty="No query string." quoteStrings={false} />
          <h3>Headers</h3>
          <RecordView record={request.requestHeaders} empty="No headers recorded." quoteStrings={false} />
          <h3>Body</h3>
          <Body value={request.requestBody} />
        </section>
        <section className="panel" aria-labelledby="res-title">
          <h2 id="res-title">Response</h2>
          <h3>Headers</h3>
          <RecordView record={request.responseHeaders} empty="No headers recorded." quoteStrings={false} />
          <h3>Body</h3>
          <Body value={request.responseBody} />
        </section>
      </div>
      <p className="muted">
        Secrets (passwords, tokens, cookies, authorization) were masked before the call was stored.
      </p>
    </>
  );
}

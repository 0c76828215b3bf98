import { useRoute } from '../api/routes.ts';
import { useTables } from '../api/use-tables.ts';
import { DiffView } from '../components/DiffView.tsx';
import { ErasedNotice } from '../components/ErasedNotice.tsx';
import { ErasedValueView } from '../components/ErasedValueView.tsx';
import { ChangeActor, HistoryLink, RequestLink } from '../components/links.tsx';
import { RecordView } from '../components/RecordView.tsx';
import { formatDuration } from '../components/RequestsTable.tsx';
import { ErrorMessage, Loading } from '../components/states.tsx';
import { Time } from '../components/Time.tsx';
import { WriteAction } from '../components/WriteAction.tsx';
import { traceLink } from '../config.ts';
import { statesOfChange } from '../lib/change-states.ts';
import { inColumnOrder } from '../lib/column-order.ts';
import { diffRecords } from '../lib/diff.ts';
import { isErased, withErasedValues } from '../lib/erased.ts';
import { schemaEventSummary } from '../lib/summary.ts';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';

/** Context keys shown in the summary; the rest of the stored context is listed below it. */
const SHOWN_CONTEXT = new Set([
  'actor_id',
  'actor_label',
  'reason',
  'source',
  'request_id',
  'claimed',
  'reverts',
  'trace_id',
  'span_id',
]);

/** The ids of the changes a restore's write reverses (its context's `reverts`), when it is one. */
function revertedIds(context: Record<string, unknown> | null): string[] {
  const reverts = context?.reverts;
  return Array.isArray(reverts) ? reverts.filter((id): id is string => typeof id === 'string') : [];
}

export function ChangePage({ id }: { id: string }) {
  const result = useRoute('changes/:id', { id });
  const erasures = useRoute('erasures', { change: id });
  const { canWrite, columnsOf } = useTables();
  const change = result.status === 'ok' ? result.data.change : null;
  const history = useRoute(
    'history',
    change?.rowKey != null
      ? // Only this change's version: its state completes the diff with the columns it did not change.
        { table: `${change.schema}.${change.table}`, key: change.rowKey, through: change.id, limit: '1' }
      : null,
  );
  if (result.status === 'loading') return <Loading what="the change" />;
  if (result.status === 'error') return <ErrorMessage error={result.error} retry={result.retry} />;
  const { change: c, request } = result.data;
  // Erasures are told apart only once known; a role that may not read them sees the values as stored.
  const erasure = erasures.status === 'ok' && erasures.data.erasures.length > 0 ? erasures.data : null;
  const keyErased = erasure?.keyErasure != null;
  const historyReady = c.rowKey === null || keyErased || history.status !== 'loading';
  const valuesReady = historyReady && erasures.status !== 'loading';
  const states = statesOfChange(c, history.status === 'ok' && !keyErased ? history.data : null, erasure);
  const order = columnsOf(`${c.schema}.${c.table}`);
  const extraContext = withErasedValues(
    Object.fromEntries(Object.entries(c.context ?? {}).filter(([key]) => !SHOWN_CONTEXT.has(key))),
    erasure,
  );
  return (
    <>
      <p className="crumbs">
        <Link to="/changes">Changes</Link> / change {c.id}
      </p>
      <h1>
        <span className={`op op-${c.operation.toLowerCase()}`}>{c.operation}</span> {c.schema}.{c.table}
        {c.rowKey !== null && <> · key {keyErased ? `erased (erasure #${erasure?.keyErasure})` : c.rowKey}</>}
      </h1>
      {erasure && <ErasedNotice erasures={erasure.erasures} />}
      {/* An erased change's values are markers: reverting it would write them into the table. */}
      {canWrite && c.operation !== 'TRUNCATE' && c.rowKey !== null && erasures.status !== 'loading' && !erasure && (
        <div className="actions">
          <WriteAction
            label="Revert this change"
            title={`Revert change ${c.id} of ${c.schema}.${c.table}, key ${c.rowKey}`}
            target={{ route: 'revert', body: { change: c.id } }}
          />
        </div>
      )}
      <div className="columns">
        <section aria-labelledby="diff-title" className="panel">
          <h2 id="diff-title">What changed</h2>
          {c.operation === 'TRUNCATE' ? (
            <p>The table was truncated: every row was removed.</p>
          ) : c.operation === 'DDL' ? (
            <>
              <p>Capture of this table: {schemaEventSummary(c)}.</p>
              {typeof c.newValues?.ddl === 'string' && <pre className="ddl">{c.newValues.ddl}</pre>}
            </>
          ) : !valuesReady ? (
            <Loading what="the row" />
          ) : (
            <DiffView entries={diffRecords(inColumnOrder(states.before, order), inColumnOrder(states.after, order))} />
          )}
          {c.rowKey !== null && !keyErased && (
            <p>
              <HistoryLink
                schema={c.schema}
                table={c.table}
                rowKey={c.rowKey}
                keyErasure={c.keyErasure}
                label="Every version of this row"
              />
            </p>
          )}
        </section>
        <section aria-labelledby="context-title" className="panel">
          <h2 id="context-title">Context</h2>
          <dl className="facts">
            <dt>When</dt>
            <dd>
              <Time iso={c.changedAt} />
            </dd>
            <dt>Actor</dt>
            <dd>
              {erasure?.actorErasure ? (
                <span className="erased-actor" title={`the pseudonym ${c.actor?.id ?? ''} an erasure gave the actor`}>
                  erased actor (erasure #{erasure.actorErasure})
                </span>
              ) : (
                <ChangeActor change={c} />
              )}
            </dd>
            <dt>Reason</dt>
            <dd>
              {erasure && isErased(c.reason, erasure) ? (
                <ErasedValueView erasures={erasure.erasures} />
              ) : (
                (c.reason ?? <span className="muted">none given</span>)
              )}
            </dd>
            <dt>Source</dt>
            <dd>
              {c.source === 'db'
                ? `direct database write (${c.claimed ? 'context only claimed' : 'no app context'})`
                : c.source === 'gateway' && typeof c.context?.gateway === 'string'
                  ? `gateway (${c.context.gateway})`
                  : c.source}
            </dd>
            <dt>Request</dt>
            <dd>
              {request ? (
                <RequestLink
                  requestId={request.requestId}
                  label={`${request.method} ${request.path} → ${request.status ?? 'no response'} (${formatDuration(request.durationMs)})`}
                />
              ) : c.requestId ? (
                <>
                  <RequestLink requestId={c.requestId} label={c.requestId} />{' '}
                  <span className="muted">(call not logged)</span>
                </>
              ) : (
                <span className="muted">none</span>
              )}
            </dd>
            {c.requestId && (
              <>
                <dt>Same request</dt>
                <dd>
                  <Link to={withQuery('/changes', { request: c.requestId })}>All changes of this request</Link>
                </dd>
              </>
            )}
            {revertedIds(c.context).length > 0 && (
              <>
                <dt>Reverses</dt>
                <dd>
                  {revertedIds(c.context).map((reverted, index) => (
                    <span key={reverted}>
                      {index > 0 && ', '}
                      <Link to={`/changes/${encodeURIComponent(reverted)}`}>change {reverted}</Link>
                    </span>
                  ))}
                </dd>
              </>
            )}
            {typeof c.context?.trace_id === 'string' && (
              <>
                <dt>Trace</dt>
                <dd>
                  <TraceLink traceId={c.context.trace_id} spanId={stringOrUndefined(c.context.span_id)} />
                </dd>
              </>
            )}
            <dt>Transaction</dt>
            <dd>
              <Link to={`/transactions/${encodeURIComponent(c.txid)}`} className="mono" title="every change of it">
                {c.txid}
              </Link>
            </dd>
          </dl>
          {extraContext && Object.keys(extraContext).length > 0 && (
            <>
              <h3>More context</h3>
              <RecordView record={extraContext} />
            </>
          )}
          {c.claimed && (
            <section className="claimed" aria-labelledby="claimed-title">
              <h3 id="claimed-title">Claimed context (not trusted)</h3>
              <p>
                The statement carried this context, but it came from database role{' '}
                <span className="mono">{String(c.context?.db_user ?? 'unknown')}</span>, which is not one of the
                application's roles: it is what the writer said, not who made the change.
              </p>
              <RecordView record={c.claimed} />
            </section>
          )}
        </section>
      </div>
    </>
  );
}

/** The change's OpenTelemetry trace: a link into the host's trace viewer (the `traceUrl` option), else its id. */
function TraceLink({ traceId, spanId }: { traceId: string; spanId: string | undefined }) {
  const href = traceLink(traceId, spanId);
  const text = <span className="mono">{traceId}</span>;
  return href === null ? (
    text
  ) : (
    <a
      href={href}
      target="_blank"
      rel="noopener noreferrer"
      title={spanId === undefined ? undefined : `span ${spanId}`}
    >
      {text}
    </a>
  );
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

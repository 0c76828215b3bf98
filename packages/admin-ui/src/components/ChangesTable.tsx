import type { Change } from '@auditrum/core/admin';
import { createColumnHelper, tableFeatures, useTable } from '@tanstack/react-table';
import { useContext } from 'react';
import { TableColumnsContext } from '../api/use-tables.ts';
import { changeSummary } from '../lib/summary.ts';
import { Link } from '../router/Link.tsx';
import { GridTable } from './GridTable.tsx';
import { ChangeActor, HistoryLink, RequestLink } from './links.tsx';
import { Time } from './Time.tsx';

const features = tableFeatures({});
const column = createColumnHelper<typeof features, Change>();

const columns = column.columns([
  column.accessor('changedAt', {
    header: 'Time',
    cell: (info) => <Time iso={info.getValue()} />,
  }),
  column.display({
    id: 'table',
    header: 'Table',
    cell: ({ row }) => (
      <span className="mono">
        {row.original.schema === 'public' ? row.original.table : `${row.original.schema}.${row.original.table}`}
      </span>
    ),
  }),
  column.accessor('operation', {
    header: 'Operation',
    cell: (info) => <span className={`op op-${info.getValue().toLowerCase()}`}>{info.getValue()}</span>,
  }),
  column.display({
    id: 'key',
    header: 'Key',
    cell: ({ row }) => (
      <HistoryLink
        schema={row.original.schema}
        table={row.original.table}
        rowKey={row.original.rowKey}
        keyErasure={row.original.keyErasure}
      />
    ),
  }),
  column.display({
    id: 'summary',
    header: 'Change',
    cell: ({ row }) => <ChangeSummaryCell change={row.original} />,
  }),
  column.display({
    id: 'actor',
    header: 'Actor',
    cell: ({ row }) => <ChangeActor change={row.original} />,
  }),
  column.display({
    id: 'request',
    header: 'Request',
    cell: ({ row }) => <RequestLink requestId={row.original.requestId} label={requestLabel(row.original)} />,
  }),
]);

/** A change's one-line summary, linking to it, with its reason under it. */
function ChangeSummaryCell({ change }: { change: Change }) {
  const summary = changeSummary(change, useContext(TableColumnsContext)(`${change.schema}.${change.table}`));
  return (
    <>
      <Link
        to={`/changes/${change.id}`}
        className="summary"
        data-primary
        aria-label={`Change ${change.id}: ${summary || change.operation}`}
      >
        {summary || <span className="muted">{change.operation.toLowerCase()}</span>}
      </Link>
      {change.reason && <span className="change-reason">“{change.reason}”</span>}
    </>
  );
}

/** The API call a change came from, as its method and route (or path) when the context has them. */
function requestLabel(change: Change): string | undefined {
  const method = change.context?.method;
  const route = change.context?.route ?? change.context?.path;
  return typeof method === 'string' && typeof route === 'string' ? `${method} ${route}` : undefined;
}

/** Row changes, one line each (fields in table order when the page provides TableColumnsContext), with links to the change, the row's history, the actor and the request. */
export function ChangesTable({ changes, caption }: { changes: Change[]; caption?: string }) {
  const table = useTable({ features, columns, data: changes, getRowId: (change) => change.id });
  return (
    <GridTable
      table={table}
      className="changes-table"
      caption={caption}
      rowAttributes={(change) => ({ 'data-change-id': change.id })}
    />
  );
}

import type { Change } from '@auditrum/core/admin';
import { createColumnHelper, tableFeatures, useTable } from '@tanstack/react-table';
import { changeSummary } from '../lib/summary.ts';
import { Link } from '../router/Link.tsx';
import { columnLabel } from './column-label.ts';
import { ActorLink, HistoryLink, RequestLink } from './links.tsx';
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
      <HistoryLink schema={row.original.schema} table={row.original.table} rowKey={row.original.rowKey} />
    ),
  }),
  column.display({
    id: 'summary',
    header: 'Change',
    cell: ({ row }) => (
      <Link
        to={`/changes/${row.original.id}`}
        className="summary"
        aria-label={`Change ${row.original.id}: ${changeSummary(row.original) || row.original.operation}`}
      >
        {changeSummary(row.original) || <span className="muted">{row.original.operation.toLowerCase()}</span>}
      </Link>
    ),
  }),
  column.display({
    id: 'actor',
    header: 'Actor',
    cell: ({ row }) => <ActorLink actor={row.original.actor} source={row.original.source} />,
  }),
  column.display({
    id: 'request',
    header: 'Request',
    cell: ({ row }) => <RequestLink requestId={row.original.requestId} />,
  }),
]);

/** Row changes, one line each, with links to the change, the row's history, the actor and the request. */
export function ChangesTable({ changes, caption }: { changes: Change[]; caption?: string }) {
  const table = useTable({ features, columns, data: changes, getRowId: (change) => change.id });
  return (
    <div className="table-scroll">
      <table className="grid changes-table">
        {caption && <caption className="visually-hidden">{caption}</caption>}
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((header) => (
                <th key={header.id} scope="col" className={`col-${header.column.id}`}>
                  {header.isPlaceholder ? null : <table.FlexRender header={header} />}
                </th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {table.getRowModel().rows.map((row) => (
            <tr key={row.id} data-change-id={row.original.id}>
              {row.getAllCells().map((cell) => (
                <td
                  key={cell.id}
                  className={`col-${cell.column.id}`}
                  data-label={columnLabel(cell.column.columnDef.header, cell.column.id)}
                >
                  <table.FlexRender cell={cell} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

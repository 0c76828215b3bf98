import type { ApiRequestSummary } from '@auditrum/core/admin';
import { createColumnHelper, tableFeatures, useTable } from '@tanstack/react-table';
import { Link } from '../router/Link.tsx';
import { GridTable } from './GridTable.tsx';
import { ActorLink } from './links.tsx';
import { Time } from './Time.tsx';

const features = tableFeatures({});
const column = createColumnHelper<typeof features, ApiRequestSummary>();

export function statusClass(status: number | null): string {
  if (status === null) return 'status-none';
  return `status-${Math.floor(status / 100)}xx`;
}

const columns = column.columns([
  column.accessor('requestedAt', { header: 'Time', cell: (info) => <Time iso={info.getValue()} /> }),
  column.display({
    id: 'call',
    header: 'Call',
    cell: ({ row }) => (
      <Link to={`/requests/${encodeURIComponent(row.original.requestId)}`} className="mono">
        {row.original.method} {row.original.path}
      </Link>
    ),
  }),
  column.accessor('status', {
    header: 'Status',
    cell: ({ row }) => (
      <span className={`status ${statusClass(row.original.status)}`}>
        {row.original.aborted ? 'aborted' : (row.original.status ?? '—')}
      </span>
    ),
  }),
  column.accessor('durationMs', { header: 'Duration', cell: (info) => `${formatDuration(info.getValue())}` }),
  column.display({ id: 'actor', header: 'Actor', cell: ({ row }) => <ActorLink actor={row.original.actor} /> }),
  column.display({
    id: 'changes',
    header: 'Changes',
    cell: ({ row }) => {
      const count = row.original.changeCount;
      if (count === undefined) return null;
      if (count === 0) return <span className="muted">0</span>;
      return <Link to={`/changes?request=${encodeURIComponent(row.original.requestId)}`}>{count}</Link>;
    },
  }),
]);

export function formatDuration(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms).toLocaleString('en')} ms`;
}

/** Logged API calls, one line each, with links to the call and to the changes it caused. */
export function RequestsTable({ requests }: { requests: ApiRequestSummary[] }) {
  const table = useTable({ features, columns, data: requests, getRowId: (request) => request.id });
  return <GridTable table={table} className="requests-table" />;
}

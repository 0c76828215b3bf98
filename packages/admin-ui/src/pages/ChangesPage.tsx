import type { ChangeFilters, ChangesResponse, TablesResponse } from '@auditrum/core/admin';
import type { FormEvent } from 'react';
import { apiUrl } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ChangesTable } from '../components/ChangesTable.tsx';
import { FiltersBox } from '../components/FiltersBox.tsx';
import { PagedList } from '../components/PagedList.tsx';
import { TimeRangeInputs } from '../components/TimeRangeInputs.tsx';
import { filtersFrom, submitFilters } from '../lib/list-filters.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';

/** The list's filters, as named in the URL and in the API (core's names: a renamed filter fails the type check). */
export const CHANGE_FILTERS = [
  'table',
  'operation',
  'actor',
  'request',
  'txid',
  'key',
  'column',
  'source',
  'from',
  'to',
  'q',
] as const satisfies readonly (keyof ChangeFilters)[];

const OPERATIONS = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'];
const SOURCES: [string, string][] = [
  ['http', 'HTTP requests'],
  ['job', 'jobs'],
  ['cli', 'CLI'],
  ['migration', 'migrations'],
  ['app', 'other app code'],
  ['db', 'direct database writes (no app context)'],
];

export function ChangesPage({ location }: { location: AppLocation }) {
  const filters = filtersFrom(location.search, CHANGE_FILTERS);
  const changes = useApi<ChangesResponse>(apiUrl('changes', { ...filters, cursor: location.search.get('cursor') }));
  // Loaded once per visit, not per filter change (the form below is remounted on each navigation).
  const tables = useApi<TablesResponse>(apiUrl('tables'));
  const tableNames = tables.status === 'ok' ? tables.data.tables.map((t) => `${t.schema}.${t.table}`) : [];
  const filtered = Object.keys(filters).length > 0;
  return (
    <>
      <h1>Changes</h1>
      <FiltersBox key={location.key} active={Object.keys(filters).length}>
        <ChangeFiltersForm filters={filters} tableNames={tableNames} />
      </FiltersBox>
      <div className="toolbar">
        <span className="muted">
          {filtered ? 'Filtered view; the URL can be shared.' : 'All tracked tables, newest first.'}
        </span>
        <span className="exports">
          Export this view:{' '}
          <a href={apiUrl('changes/export', { ...filters, format: 'csv' })} download>
            CSV
          </a>{' '}
          ·{' '}
          <a href={apiUrl('changes/export', { ...filters, format: 'ndjson' })} download>
            NDJSON
          </a>
        </span>
      </div>
      <PagedList
        result={changes}
        what="changes"
        path="/changes"
        search={location.search}
        filtered={filtered}
        noMatch="No change matches these filters."
        none="No changes recorded yet."
      >
        {(items) => <ChangesTable changes={items} caption="Changes" />}
      </PagedList>
    </>
  );
}

function ChangeFiltersForm({ filters, tableNames }: { filters: Record<string, string>; tableNames: string[] }) {
  const onSubmit = (event: FormEvent<HTMLFormElement>) => submitFilters(event, CHANGE_FILTERS, '/changes');
  const options = filters.table && !tableNames.includes(filters.table) ? [filters.table, ...tableNames] : tableNames;
  return (
    <form className="filters" onSubmit={onSubmit} aria-label="Filter changes">
      <label>
        Table
        <select name="table" defaultValue={filters.table ?? ''}>
          <option value="">any</option>
          {options.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Operation
        <select name="operation" defaultValue={filters.operation ?? ''}>
          <option value="">any</option>
          {OPERATIONS.map((op) => (
            <option key={op}>{op}</option>
          ))}
        </select>
      </label>
      <label>
        Actor id
        <input name="actor" defaultValue={filters.actor ?? ''} autoComplete="off" />
      </label>
      <label>
        Request id
        <input name="request" defaultValue={filters.request ?? ''} autoComplete="off" />
      </label>
      <label>
        Row key
        <input name="key" defaultValue={filters.key ?? ''} autoComplete="off" />
      </label>
      <label>
        Changed column
        <input name="column" defaultValue={filters.column ?? ''} autoComplete="off" />
      </label>
      <label>
        Transaction
        <input name="txid" defaultValue={filters.txid ?? ''} autoComplete="off" inputMode="numeric" />
      </label>
      <label>
        Source
        <select name="source" defaultValue={filters.source ?? ''}>
          <option value="">any</option>
          {SOURCES.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <TimeRangeInputs from={filters.from} to={filters.to} />
      <label className="filter-search">
        Search in changed values
        <input type="search" name="q" defaultValue={filters.q ?? ''} />
      </label>
      <div className="filter-actions">
        <button type="submit">Apply filters</button>
        {Object.keys(filters).length > 0 && <Link to="/changes">Clear</Link>}
      </div>
    </form>
  );
}

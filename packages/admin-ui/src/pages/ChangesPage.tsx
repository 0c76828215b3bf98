import type { ChangeFilters, ChangeOperation } from '@auditrum/core/admin';
import type { FormEvent, InputHTMLAttributes } from 'react';
import { downloadUrl, useRoute } from '../api/routes.ts';
import { TableColumnsContext, useColumnsOf } from '../api/use-tables.ts';
import { ActorFilterInput } from '../components/ActorFilterInput.tsx';
import { ChangesTable } from '../components/ChangesTable.tsx';
import { FieldError } from '../components/FieldError.tsx';
import { FiltersBox } from '../components/FiltersBox.tsx';
import { PagedList } from '../components/PagedList.tsx';
import { searchProgress } from '../components/SearchProgress.tsx';
import { TimeRangeInputs } from '../components/TimeRangeInputs.tsx';
import type { FilterError } from '../lib/filter-error.ts';
import { filterError, invalidField } from '../lib/filter-error.ts';
import { filtersFrom, submitFilters } from '../lib/list-filters.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';

/** The list's filters, as named in the URL and in the API (core's names: a renamed filter fails the type check). */
export const CHANGE_FILTERS = [
  'table',
  'operation',
  'actor',
  'erasure',
  'request',
  'txid',
  'key',
  'column',
  'source',
  'from',
  'to',
  'q',
] as const satisfies readonly (keyof ChangeFilters)[];

// Every operation, checked against the API's type: one added there fails the type check here.
const OPERATIONS = Object.keys({ INSERT: 1, UPDATE: 1, DELETE: 1, TRUNCATE: 1, DDL: 1 } satisfies Record<
  ChangeOperation,
  1
>);
const SOURCES: [string, string][] = [
  ['http', 'HTTP requests'],
  ['job', 'jobs'],
  ['cli', 'CLI'],
  ['migration', 'migrations'],
  ['app', 'other app code'],
  ['gateway', 'gateways (PostgREST, Supabase, Hasura)'],
  ['db', 'direct database writes (no app context)'],
];

export function ChangesPage({ location }: { location: AppLocation }) {
  const filters = filtersFrom(location.search, CHANGE_FILTERS);
  const changes = useRoute('changes', { ...filters, cursor: location.search.get('cursor') });
  // Loaded once per visit, not per filter change (the form below is remounted on each navigation).
  const tables = useRoute('tables', {});
  const columnsOf = useColumnsOf(tables);
  const tableNames = tables.status === 'ok' ? tables.data.tables.map((t) => `${t.schema}.${t.table}`) : [];
  const filtered = Object.keys(filters).length > 0;
  return (
    <>
      <h1>Changes</h1>
      <FiltersBox key={location.key} active={Object.keys(filters).length}>
        <ChangeFiltersForm filters={filters} tableNames={tableNames} error={filterError(changes, CHANGE_FILTERS)} />
      </FiltersBox>
      <div className="toolbar">
        <span className="muted">
          {filtered ? 'Filtered view; the URL can be shared.' : 'All tracked tables, newest first.'}
        </span>
        <span className="exports">
          Export this view:{' '}
          <a href={downloadUrl('changes/export', { ...filters, format: 'csv' })} download>
            CSV
          </a>{' '}
          ·{' '}
          <a href={downloadUrl('changes/export', { ...filters, format: 'ndjson' })} download>
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
        notice={searchProgress('changes')}
      >
        {(items) => (
          <TableColumnsContext.Provider value={columnsOf}>
            <ChangesTable changes={items} caption="Changes" />
          </TableColumnsContext.Provider>
        )}
      </PagedList>
    </>
  );
}

function ChangeFiltersForm({
  filters,
  tableNames,
  error,
}: {
  filters: Record<string, string>;
  tableNames: string[];
  /** The filter the server refused: marked, with its reason, and kept as typed. */
  error: FilterError | null;
}) {
  const onSubmit = (event: FormEvent<HTMLFormElement>) => submitFilters(event, CHANGE_FILTERS, '/changes');
  // A value from the URL that is not among the choices stays selected (and is named if refused), never dropped.
  const withCurrent = (name: string, values: string[]) => {
    const current = filters[name];
    return current && !values.includes(current) ? [current, ...values] : values;
  };
  const text = (
    name: (typeof CHANGE_FILTERS)[number],
    label: string,
    extra: InputHTMLAttributes<HTMLInputElement> = {},
  ) => (
    <label>
      {label}
      <input
        name={name}
        defaultValue={filters[name] ?? ''}
        autoComplete="off"
        {...extra}
        {...invalidField(name, error)}
      />
      <FieldError name={name} error={error} />
    </label>
  );
  return (
    <form className="filters" onSubmit={onSubmit} aria-label="Filter changes">
      <label>
        Table
        <select name="table" defaultValue={filters.table ?? ''} {...invalidField('table', error)}>
          <option value="">any</option>
          {withCurrent('table', tableNames).map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        <FieldError name="table" error={error} />
      </label>
      <label>
        Operation
        <select name="operation" defaultValue={filters.operation ?? ''} {...invalidField('operation', error)}>
          <option value="">any</option>
          {withCurrent('operation', OPERATIONS).map((op) => (
            <option key={op}>{op}</option>
          ))}
        </select>
        <FieldError name="operation" error={error} />
      </label>
      <ActorFilterInput value={filters.actor ?? ''} error={error} />
      {text('request', 'Request id')}
      {text('key', 'Row key')}
      {text('column', 'Changed column')}
      {text('txid', 'Transaction', { inputMode: 'numeric' })}
      {text('erasure', 'Touched by erasure #', { inputMode: 'numeric' })}
      <label>
        Source
        <select name="source" defaultValue={filters.source ?? ''} {...invalidField('source', error)}>
          <option value="">any</option>
          {withCurrent(
            'source',
            SOURCES.map(([value]) => value),
          ).map((value) => (
            <option key={value} value={value}>
              {SOURCES.find(([known]) => known === value)?.[1] ?? value}
            </option>
          ))}
        </select>
        <FieldError name="source" error={error} />
      </label>
      <TimeRangeInputs from={filters.from} to={filters.to} error={error} />
      <label className="filter-search">
        Search in changed values
        <input type="search" name="q" defaultValue={filters.q ?? ''} {...invalidField('q', error)} />
        <FieldError name="q" error={error} />
      </label>
      <div className="filter-actions">
        <button type="submit">Apply filters</button>
        {Object.keys(filters).length > 0 && <Link to="/changes">Clear</Link>}
      </div>
    </form>
  );
}

import type { FormEvent } from 'react';
import { useRoute } from '../api/routes.ts';
import { ActorFilterInput } from '../components/ActorFilterInput.tsx';
import { FieldError } from '../components/FieldError.tsx';
import { FiltersBox } from '../components/FiltersBox.tsx';
import { PagedList } from '../components/PagedList.tsx';
import { RequestsTable } from '../components/RequestsTable.tsx';
import { searchProgress } from '../components/SearchProgress.tsx';
import { TimeRangeInputs } from '../components/TimeRangeInputs.tsx';
import { filterError, invalidField } from '../lib/filter-error.ts';
import { filtersFrom, submitFilters } from '../lib/list-filters.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';

const REQUEST_FILTERS = ['actor', 'erasure', 'method', 'status', 'path', 'request', 'from', 'to'] as const;

export function RequestsPage({ location }: { location: AppLocation }) {
  const filters = filtersFrom(location.search, REQUEST_FILTERS);
  const requests = useRoute('requests', { ...filters, cursor: location.search.get('cursor') });
  const filtered = Object.keys(filters).length > 0;
  const onSubmit = (event: FormEvent<HTMLFormElement>) => submitFilters(event, REQUEST_FILTERS, '/requests');
  const error = filterError(requests, REQUEST_FILTERS);
  const marked = (name: (typeof REQUEST_FILTERS)[number]) => invalidField(name, error);
  return (
    <>
      <h1>Requests</h1>
      <FiltersBox key={location.key} active={Object.keys(filters).length}>
        <form className="filters" onSubmit={onSubmit} aria-label="Filter requests">
          <ActorFilterInput value={filters.actor ?? ''} error={error} />
          <label>
            Method
            <select name="method" defaultValue={filters.method ?? ''}>
              <option value="">any</option>
              {['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((method) => (
                <option key={method}>{method}</option>
              ))}
            </select>
          </label>
          <label>
            Status
            <input
              name="status"
              defaultValue={filters.status ?? ''}
              {...marked('status')}
              placeholder="404 or 5xx"
              autoComplete="off"
            />
            <FieldError name="status" error={error} />
          </label>
          <label>
            Path
            <input name="path" defaultValue={filters.path ?? ''} {...marked('path')} autoComplete="off" />
            <FieldError name="path" error={error} />
          </label>
          <label>
            Request id
            <input name="request" defaultValue={filters.request ?? ''} {...marked('request')} autoComplete="off" />
            <FieldError name="request" error={error} />
          </label>
          <label>
            Masked by erasure #
            <input
              name="erasure"
              defaultValue={filters.erasure ?? ''}
              {...marked('erasure')}
              inputMode="numeric"
              autoComplete="off"
            />
            <FieldError name="erasure" error={error} />
          </label>
          <TimeRangeInputs from={filters.from} to={filters.to} error={error} />
          <div className="filter-actions">
            <button type="submit">Apply filters</button>
            {filtered && <Link to="/requests">Clear</Link>}
          </div>
        </form>
      </FiltersBox>
      <PagedList
        result={requests}
        what="requests"
        path="/requests"
        search={location.search}
        filtered={filtered}
        noMatch="No request matches these filters."
        none="No API request logged yet."
        notice={searchProgress('requests')}
      >
        {(items) => <RequestsTable requests={items} />}
      </PagedList>
    </>
  );
}

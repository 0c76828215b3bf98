import type { RequestsResponse } from '@auditrum/core/admin';
import type { FormEvent } from 'react';
import { apiUrl } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { FiltersBox } from '../components/FiltersBox.tsx';
import { Pager } from '../components/Pager.tsx';
import { RequestsTable } from '../components/RequestsTable.tsx';
import { Empty, Loaded } from '../components/states.tsx';
import { fromDateTimeLocal, toDateTimeLocal } from '../lib/time.ts';
import { Link } from '../router/Link.tsx';
import type { AppLocation } from '../router/location.ts';
import { navigate, withQuery } from '../router/location.ts';

const REQUEST_FILTERS = ['actor', 'method', 'status', 'path', 'request', 'from', 'to'] as const;

export function RequestsPage({ location }: { location: AppLocation }) {
  const filters: Record<string, string> = {};
  for (const name of REQUEST_FILTERS) {
    const value = location.search.get(name);
    if (value) filters[name] = value;
  }
  const cursor = location.search.get('cursor');
  const requests = useApi<RequestsResponse>(apiUrl('requests', { ...filters, cursor }));
  const filtered = Object.keys(filters).length > 0;
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next: Record<string, string> = {};
    for (const name of REQUEST_FILTERS) next[name] = String(form.get(name) ?? '').trim();
    next.from = fromDateTimeLocal(next.from ?? '');
    next.to = fromDateTimeLocal(next.to ?? '');
    navigate(withQuery('/requests', next));
  };
  return (
    <>
      <h1>Requests</h1>
      <FiltersBox key={location.key} active={Object.keys(filters).length}>
        <form className="filters" onSubmit={onSubmit} aria-label="Filter requests">
          <label>
            Actor id
            <input name="actor" defaultValue={filters.actor ?? ''} autoComplete="off" />
          </label>
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
            <input name="status" defaultValue={filters.status ?? ''} placeholder="404 or 5xx" autoComplete="off" />
          </label>
          <label>
            Path
            <input name="path" defaultValue={filters.path ?? ''} autoComplete="off" />
          </label>
          <label>
            Request id
            <input name="request" defaultValue={filters.request ?? ''} autoComplete="off" />
          </label>
          <label>
            From
            <input type="datetime-local" step="1" name="from" defaultValue={toDateTimeLocal(filters.from)} />
          </label>
          <label>
            To
            <input type="datetime-local" step="1" name="to" defaultValue={toDateTimeLocal(filters.to)} />
          </label>
          <div className="filter-actions">
            <button type="submit">Apply filters</button>
            {filtered && <Link to="/requests">Clear</Link>}
          </div>
        </form>
      </FiltersBox>
      <Loaded result={requests} what="requests">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>{filtered || cursor ? 'No request matches these filters.' : 'No API request logged yet.'}</p>
              {filtered && <Link to="/requests">Clear the filters</Link>}
            </Empty>
          ) : (
            <>
              <RequestsTable requests={data.items} />
              <Pager path="/requests" search={location.search} nextCursor={data.nextCursor} />
            </>
          )
        }
      </Loaded>
    </>
  );
}

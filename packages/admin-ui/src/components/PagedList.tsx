import type { ReactNode } from 'react';
import type { ApiState } from '../api/use-api.ts';
import { Link } from '../router/Link.tsx';
import { Pager } from './Pager.tsx';
import { Empty, Loaded } from './states.tsx';

/**
 * One page of a filterable list (changes, requests): its table and the pager, or, when empty, a line that says
 * whether the filters or the log itself are empty, with a way to clear the filters.
 */
export function PagedList<T extends { items: unknown[]; nextCursor: string | null }>({
  result,
  what,
  path,
  search,
  filtered,
  noMatch,
  none,
  notice,
  children,
}: {
  result: ApiState<T> & { retry: () => void };
  what: string;
  path: string;
  search: URLSearchParams;
  filtered: boolean;
  /** Shown when the filters (or a later page) match nothing. */
  noMatch: string;
  /** Shown when nothing was recorded at all. */
  none: string;
  /**
   * What to say about a page the server stopped reading before it was full (a search without its index): shown
   * above the page, and with the pager in place of "no match" when the page is empty, since older pages may match.
   */
  notice?: (data: T) => ReactNode;
  children: (items: T['items']) => ReactNode;
}) {
  return (
    <Loaded result={result} what={what}>
      {(data) => {
        const note = notice?.(data);
        if (data.items.length === 0 && !note) {
          return (
            <Empty>
              <p>{filtered || search.get('cursor') ? noMatch : none}</p>
              {filtered && <Link to={path}>Clear the filters</Link>}
            </Empty>
          );
        }
        return (
          <>
            {note}
            {data.items.length > 0 && children(data.items)}
            <Pager path={path} search={search} nextCursor={data.nextCursor} />
          </>
        );
      }}
    </Loaded>
  );
}

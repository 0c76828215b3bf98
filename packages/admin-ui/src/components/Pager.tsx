import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';

/**
 * Keyset pagination: "next page" carries the server's cursor in the URL (so a page can be shared);
 * "newest" drops it. There is no page number and no "previous": the API never uses OFFSET.
 */
export function Pager({
  path,
  search,
  nextCursor,
}: {
  path: string;
  search: URLSearchParams;
  nextCursor: string | null;
}) {
  const params = Object.fromEntries(search);
  const onFirstPage = !params.cursor;
  if (onFirstPage && !nextCursor) return null;
  return (
    <nav className="pager" aria-label="Pages">
      {!onFirstPage && <Link to={withQuery(path, { ...params, cursor: null })}>↖ Newest</Link>}
      {nextCursor ? (
        <Link to={withQuery(path, { ...params, cursor: nextCursor })} rel="next">
          Next page →
        </Link>
      ) : (
        <span className="muted">End of the list</span>
      )}
    </nav>
  );
}

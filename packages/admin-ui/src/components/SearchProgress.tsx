import { Time } from './Time.tsx';

/**
 * A list filtered by what no index holds (a search in values, a request path) reads a bounded part of its log per
 * page (docs/admin.md): the notice says how far back the page searched, so that a short or empty page is not taken
 * for "nothing older matches". `what` names the list's rows ("changes", "requests").
 */
export function searchProgress(what: string) {
  return function SearchProgress(data: { items: unknown[]; searchedTo?: string }) {
    if (data.searchedTo === undefined) return null;
    return (
      <p role="status">
        {data.items.length === 0 ? 'No match yet' : `${data.items.length} found`} in the {what} back to{' '}
        <Time iso={data.searchedTo} />. Older {what} are not searched yet: <strong>Next page</strong> searches further
        back.
      </p>
    );
  };
}

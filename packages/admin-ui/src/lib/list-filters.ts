import type { FormEvent } from 'react';
import { navigate, withQuery } from '../router/location.ts';
import { fromDateTimeLocal } from './time.ts';

/** A list's filters as the URL holds them (the same names as the API's); empty ones left out. */
export function filtersFrom(search: URLSearchParams, names: readonly string[]): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const name of names) {
    const value = search.get(name);
    if (value) filters[name] = value;
  }
  return filters;
}

/**
 * Submits a filter form by navigating to `path` with its fields in the URL (so the view can be shared): values
 * trimmed, the `from` and `to` date-time inputs turned into ISO instants (kept as typed when not a time).
 */
export function submitFilters(event: FormEvent<HTMLFormElement>, names: readonly string[], path: string): void {
  event.preventDefault();
  const form = new FormData(event.currentTarget);
  const next: Record<string, string> = {};
  for (const name of names) next[name] = String(form.get(name) ?? '').trim();
  // A value that is not a time is sent as typed: the server names it, and the form keeps it to be corrected.
  if ('from' in next) next.from = fromDateTimeLocal(next.from ?? '') || (next.from ?? '');
  if ('to' in next) next.to = fromDateTimeLocal(next.to ?? '') || (next.to ?? '');
  navigate(withQuery(path, next));
}

import type { ReactNode } from 'react';

/** Wide screens show the filters; narrow ones fold them (the list comes first) unless some are active. */
function startsOpen(active: number): boolean {
  return active > 0 || typeof window.matchMedia !== 'function' || window.matchMedia('(min-width: 721px)').matches;
}

export function FiltersBox({ active, children }: { active: number; children: ReactNode }) {
  return (
    <details className="filters-box" open={startsOpen(active)}>
      <summary>Filters{active > 0 ? ` (${active} active)` : ''}</summary>
      {children}
    </details>
  );
}

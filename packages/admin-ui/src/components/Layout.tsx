import type { ReactNode } from 'react';
import { apiLogVisible } from '../config.ts';
import { Link } from '../router/Link.tsx';
import { TimeSettingsControl } from './TimeSettingsControl.tsx';

const SECTIONS = [
  {
    to: '/changes',
    label: 'Changes',
    matches: (path: string) => path === '/' || path.startsWith('/changes') || path.startsWith('/history'),
  },
  {
    to: '/tables',
    label: 'Tables',
    matches: (path: string) =>
      path.startsWith('/tables') || path.startsWith('/deleted') || path.startsWith('/table-as-of'),
  },
  { to: '/requests', label: 'Requests', matches: (path: string) => path.startsWith('/requests'), apiLog: true },
  { to: '/integrity', label: 'Integrity', matches: (path: string) => path.startsWith('/integrity') },
];

/** The page frame: a skip link, the header with the sections, and the page's main region. */
export function Layout({ path, children }: { path: string; children: ReactNode }) {
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="top">
        <Link to="/changes" className="brand">
          Auditrum
        </Link>
        <nav aria-label="Sections">
          <ul>
            {SECTIONS.filter((section) => !section.apiLog || apiLogVisible()).map((section) => (
              <li key={section.to}>
                <Link to={section.to} aria-current={section.matches(path) ? 'page' : undefined}>
                  {section.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <TimeSettingsControl />
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

import { useEffect, useRef } from 'react';
import { Layout } from './components/Layout.tsx';
import { Empty } from './components/states.tsx';
import { useKeyboardShortcuts } from './lib/keyboard.ts';
import { ActorPage } from './pages/ActorPage.tsx';
import { ChangePage } from './pages/ChangePage.tsx';
import { ChangesPage } from './pages/ChangesPage.tsx';
import { DeletedPage } from './pages/DeletedPage.tsx';
import { HistoryPage } from './pages/HistoryPage.tsx';
import { IntegrityPage } from './pages/IntegrityPage.tsx';
import { RequestPage } from './pages/RequestPage.tsx';
import { RequestsPage } from './pages/RequestsPage.tsx';
import { TableAsOfPage } from './pages/TableAsOfPage.tsx';
import { TablesPage } from './pages/TablesPage.tsx';
import { TransactionPage } from './pages/TransactionPage.tsx';
import { Link } from './router/Link.tsx';
import type { AppLocation } from './router/location.ts';
import { useLocation } from './router/location.ts';

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const TITLES: [RegExp, string][] = [
  [/^\/changes\/./, 'Change'],
  [/^\/history/, 'Row history'],
  [/^\/requests\/./, 'Request'],
  [/^\/requests/, 'Requests'],
  [/^\/actors\//, 'Actor'],
  [/^\/tables/, 'Tables'],
  [/^\/deleted/, 'Recycle bin'],
  [/^\/table-as-of/, 'Table as of a time'],
  [/^\/transactions\//, 'Transaction'],
  [/^\/integrity/, 'Integrity'],
];

/** The screen for a path relative to the base path. */
function Screen({ location }: { location: AppLocation }) {
  const segments = location.path.split('/').filter(Boolean);
  const [section, id, ...rest] = segments;
  if (rest.length > 0) return <NotFound />;
  if (section === undefined || (section === 'changes' && id === undefined)) return <ChangesPage location={location} />;
  if (section === 'changes' && id !== undefined) return <ChangePage key={id} id={decode(id)} />;
  if (section === 'history' && id === undefined) return <HistoryPage location={location} />;
  if (section === 'requests' && id === undefined) return <RequestsPage location={location} />;
  if (section === 'requests' && id !== undefined) return <RequestPage key={id} requestId={decode(id)} />;
  if (section === 'actors' && id !== undefined) return <ActorPage key={id} actorId={decode(id)} />;
  if (section === 'tables' && id === undefined) return <TablesPage />;
  if (section === 'deleted' && id === undefined) return <DeletedPage location={location} />;
  if (section === 'table-as-of' && id === undefined) return <TableAsOfPage location={location} />;
  if (section === 'transactions' && id !== undefined) return <TransactionPage key={id} txid={decode(id)} />;
  if (section === 'integrity' && id === undefined) return <IntegrityPage location={location} />;
  return <NotFound />;
}

function NotFound() {
  return (
    <Empty>
      <h1>Page not found</h1>
      <p>
        <Link to="/changes">Go to the changes</Link>
      </p>
    </Empty>
  );
}

export function App() {
  const location = useLocation();
  useKeyboardShortcuts();
  const first = useRef(true);
  useEffect(() => {
    const title = TITLES.find(([pattern]) => pattern.test(location.path))?.[1] ?? 'Changes';
    document.title = `${title} · Auditrum`;
    // After an in-app navigation, move focus to the new page so that keyboard and screen-reader users start there.
    if (first.current) first.current = false;
    else document.getElementById('main')?.focus({ preventScroll: true });
  }, [location.path]);
  return (
    <Layout path={location.path}>
      <Screen location={location} />
    </Layout>
  );
}

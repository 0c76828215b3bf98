import { useRoute } from '../api/routes.ts';
import { Empty, Loaded } from '../components/states.tsx';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';

/** The tracked tables, each with its changes, its rows as of a time and its recycle bin. */
export function TablesPage() {
  const tables = useRoute('tables', {});
  return (
    <>
      <h1>Tables</h1>
      <Loaded result={tables} what="the tables">
        {(data) =>
          data.tables.length === 0 ? (
            <Empty>
              <p>No table is tracked yet.</p>
            </Empty>
          ) : (
            <ul className="table-list">
              {data.tables.map((t) => {
                const name = `${t.schema}.${t.table}`;
                return (
                  <li key={t.id} className="panel">
                    <h2 className="mono">{name}</h2>
                    <Link to={withQuery('/changes', { table: name })}>Changes</Link> ·{' '}
                    <Link to={withQuery('/table-as-of', { table: name })}>Rows as of a time</Link> ·{' '}
                    <Link to={withQuery('/deleted', { table: name })}>Recycle bin</Link>
                  </li>
                );
              })}
            </ul>
          )
        }
      </Loaded>
    </>
  );
}

import { ValueView } from './ValueView.tsx';

/** A record (a row's state, headers, a query) as a two-column list of keys and values. */
export function RecordView({
  record,
  empty = 'Nothing recorded.',
}: {
  record: Record<string, unknown> | null | undefined;
  empty?: string;
}) {
  const entries = Object.entries(record ?? {});
  if (entries.length === 0) return <p className="muted">{empty}</p>;
  return (
    <dl className="record">
      {entries.map(([key, value]) => (
        <div key={key} className="record-entry">
          <dt>{key}</dt>
          <dd>
            <ValueView value={value} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

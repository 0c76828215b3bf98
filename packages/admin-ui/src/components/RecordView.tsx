import { ValueView } from './ValueView.tsx';

/** A record (a row's state, headers, a query) as a two-column list of keys and values. */
export function RecordView({
  record,
  empty = 'Nothing recorded.',
  quoteStrings = true,
}: {
  record: Record<string, unknown> | null | undefined;
  empty?: string;
  /** Off for headers and query strings, whose values are all strings. */
  quoteStrings?: boolean;
}) {
  const entries = Object.entries(record ?? {});
  if (entries.length === 0) return <p className="muted">{empty}</p>;
  return (
    <dl className="record">
      {entries.map(([key, value]) => (
        <div key={key} className="record-entry">
          <dt>{key}</dt>
          <dd>
            <ValueView value={value} quoteStrings={quoteStrings} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

import type { FormEvent } from 'react';
import { useRoute } from '../api/routes.ts';
import { inColumnOrder } from '../lib/column-order.ts';
import { absoluteTime, endOfPickedTime } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';
import { UnknownValue } from '../lib/unknown-value.ts';
import { navigate, withQuery } from '../router/location.ts';
import { AtTimeInput } from './AtTimeInput.tsx';
import { RecordView } from './RecordView.tsx';
import { Loaded } from './states.tsx';

/**
 * The row as it was at a picked time (`api/row-as-of`: rebuilt forwards or backwards from what the log holds, under
 * today's column names), its fields in column order, a value that cannot be known said so with the reason. The time
 * is kept in the URL (`at`); a time picked to the second stands for the end of that second.
 */
export function RowAsOfPanel({
  table,
  rowKey,
  at,
  columns,
  search,
}: {
  table: string;
  rowKey: string;
  at: string;
  columns: string[];
  /** The page's other parameters, kept when the time changes. */
  search: Record<string, string | null>;
}) {
  const settings = useTimeSettings();
  const row = useRoute('row-as-of', at ? { table, key: rowKey, at } : null);
  const onPickTime = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    // The end of the picked second: "as of" the time a version is shown at finds that version.
    const value = endOfPickedTime(String(new FormData(event.currentTarget).get('at') ?? ''), settings);
    navigate(withQuery('/history', { ...search, table, key: rowKey, at: value }), { replace: true });
  };
  return (
    <section className="panel" aria-labelledby="at-title">
      <h2 id="at-title">The row as it was at a chosen time</h2>
      <form className="inline-form" onSubmit={onPickTime} key={at}>
        <AtTimeInput value={at} />
        <button type="submit">Show the row</button>
      </form>
      {at && (
        <Loaded result={row} what="the row at that time">
          {(state) =>
            state.exists !== false ? (
              <>
                {state.exists ? (
                  <p className="muted">As it was at {absoluteTime(at, settings)}:</p>
                ) : (
                  <p className="value-marker" role="note">
                    The row may not have existed at {absoluteTime(at, settings)}: the table was not tracked for a while
                    between then and what the log records of the row, and it may have been inserted or deleted then,
                    unseen. As last recorded:
                  </p>
                )}
                <RecordView
                  record={inColumnOrder(
                    {
                      ...state.values,
                      ...Object.fromEntries(
                        state.unknown.map((entry) => [entry.column, new UnknownValue(entry.reason)]),
                      ),
                    },
                    columns,
                  )}
                />
              </>
            ) : (
              <p className="muted">The row did not exist at {absoluteTime(at, settings)}.</p>
            )
          }
        </Loaded>
      )}
    </section>
  );
}

import { toDateTimeLocal } from '../lib/time.ts';

/** The `from` and `to` inputs of a filter form, in the browser's local time. */
export function TimeRangeInputs({ from, to }: { from: string | undefined; to: string | undefined }) {
  return (
    <>
      <label>
        From
        <input type="datetime-local" step="1" name="from" defaultValue={toDateTimeLocal(from)} />
      </label>
      <label>
        To
        <input type="datetime-local" step="1" name="to" defaultValue={toDateTimeLocal(to)} />
      </label>
    </>
  );
}

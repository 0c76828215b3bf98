import type { FilterError } from '../lib/filter-error.ts';
import { invalidField } from '../lib/filter-error.ts';
import { toDateTimeLocal, zoneLabel } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';
import { FieldError } from './FieldError.tsx';

/**
 * The `from` and `to` inputs of a filter form, in the zone chosen in the header (named in the label). A value from the URL that is not a
 * time (the server refuses it, naming it) stays as it was typed, in a text field, rather than emptied.
 */
export function TimeRangeInputs({
  from,
  to,
  error,
}: {
  from: string | undefined;
  to: string | undefined;
  error?: FilterError | null;
}) {
  return (
    <>
      <TimeInput name="from" label="From" value={from} error={error} />
      <TimeInput name="to" label="To" value={to} error={error} />
    </>
  );
}

function TimeInput({
  name,
  label,
  value,
  error,
}: {
  name: string;
  label: string;
  value: string | undefined;
  error: FilterError | null | undefined;
}) {
  const settings = useTimeSettings();
  const local = toDateTimeLocal(value, settings);
  const keepAsTyped = value !== undefined && value !== '' && local === '';
  return (
    <label>
      {label} ({zoneLabel(new Date(), settings)})
      <input
        type={keepAsTyped ? 'text' : 'datetime-local'}
        step={settings.ms ? '0.001' : '1'}
        name={name}
        defaultValue={keepAsTyped ? value : local}
        {...invalidField(name, error)}
      />
      <FieldError name={name} error={error} />
    </label>
  );
}

import { toDateTimeLocal, zoneLabel } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';

/** The required time (`at`) of an as-of form, in the zone chosen in the header (named in the label). */
export function AtTimeInput({ value }: { value: string }) {
  const settings = useTimeSettings();
  return (
    <label>
      Time ({zoneLabel(new Date(), settings)})
      <input
        type="datetime-local"
        step={settings.ms ? '0.001' : '1'}
        name="at"
        defaultValue={toDateTimeLocal(value, settings)}
        required
      />
    </label>
  );
}

import { browserZoneName } from '../lib/time.ts';
import { setTimeSettings, useTimeSettings } from '../lib/time-settings.ts';

/** The header's choice of how times are shown and read: UTC or the browser's zone, and milliseconds. */
export function TimeSettingsControl() {
  const settings = useTimeSettings();
  return (
    <fieldset className="time-settings">
      <legend className="visually-hidden">Times</legend>
      <label>
        Times in{' '}
        <select
          value={settings.utc ? 'utc' : 'local'}
          onChange={(event) => setTimeSettings({ utc: event.target.value === 'utc' })}
        >
          <option value="local">{browserZoneName()}</option>
          <option value="utc">UTC</option>
        </select>
      </label>
      <label>
        <input
          type="checkbox"
          checked={settings.ms}
          onChange={(event) => setTimeSettings({ ms: event.target.checked })}
        />{' '}
        ms
      </label>
    </fieldset>
  );
}

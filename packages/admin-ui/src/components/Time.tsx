import { absoluteTime, relativeTime } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';

/**
 * A time as "3 minutes ago" with the absolute time next to it, in the zone chosen in the header (named), to the
 * millisecond when chosen; the exact UTC value is the tooltip.
 */
export function Time({ iso }: { iso: string }) {
  const settings = useTimeSettings();
  return (
    <time dateTime={iso} title={iso} className="time">
      <span className="time-relative">{relativeTime(iso)}</span>{' '}
      <span className="time-absolute">{absoluteTime(iso, settings)}</span>
    </time>
  );
}

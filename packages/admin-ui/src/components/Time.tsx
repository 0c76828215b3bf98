import { absoluteTime, relativeTime } from '../lib/time.ts';

/** A time as "3 minutes ago" with the absolute local time next to it (and the UTC value as a tooltip). */
export function Time({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={iso} className="time">
      <span className="time-relative">{relativeTime(iso)}</span>{' '}
      <span className="time-absolute">{absoluteTime(iso)}</span>
    </time>
  );
}

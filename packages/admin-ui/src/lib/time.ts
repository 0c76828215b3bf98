import type { TimeSettings } from './time-settings.ts';
import { timeSettings } from './time-settings.ts';

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "3 minutes ago", "yesterday", "in 2 hours" (clock skew), relative to `now`. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return iso;
  const seconds = Math.round((time - now) / 1000);
  if (Math.abs(seconds) < 10) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === 'second') return relativeFormat.format(Math.trunc(seconds / size), unit);
  }
  return iso;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** A date's calendar fields in UTC or in the browser's zone. */
function fields(date: Date, utc: boolean) {
  return utc
    ? {
        year: date.getUTCFullYear(),
        month: date.getUTCMonth() + 1,
        day: date.getUTCDate(),
        hours: date.getUTCHours(),
        minutes: date.getUTCMinutes(),
        seconds: date.getUTCSeconds(),
        ms: date.getUTCMilliseconds(),
      }
    : {
        year: date.getFullYear(),
        month: date.getMonth() + 1,
        day: date.getDate(),
        hours: date.getHours(),
        minutes: date.getMinutes(),
        seconds: date.getSeconds(),
        ms: date.getMilliseconds(),
      };
}

/** The zone a time is shown in: `UTC`, or the browser's offset at that time (`UTC+1`, `UTC+5:30`, `UTC−3`). */
export function zoneLabel(date: Date = new Date(), settings: TimeSettings = timeSettings()): string {
  if (settings.utc) return 'UTC';
  const offset = -date.getTimezoneOffset();
  if (offset === 0) return 'UTC+0';
  const sign = offset > 0 ? '+' : '−';
  const hours = Math.floor(Math.abs(offset) / 60);
  const minutes = Math.abs(offset) % 60;
  return `UTC${sign}${hours}${minutes ? `:${pad(minutes)}` : ''}`;
}

/** The browser's zone by name, for the settings' label ("Europe/Vienna"). */
export function browserZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
}

/**
 * "2026-11-26 10:40:12 UTC+1": in the zone the settings say, always with it, to the millisecond when asked (the ISO
 * value, to the microsecond, is in the element's title).
 */
export function absoluteTime(iso: string, settings: TimeSettings = timeSettings()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const f = fields(date, settings.utc);
  const ms = settings.ms ? `.${pad(f.ms, 3)}` : '';
  return `${f.year}-${pad(f.month)}-${pad(f.day)} ${pad(f.hours)}:${pad(f.minutes)}:${pad(f.seconds)}${ms} ${zoneLabel(date, settings)}`;
}

/** The value of a `datetime-local` input for an ISO time, in the settings' zone (with milliseconds when shown). */
export function toDateTimeLocal(iso: string | null | undefined, settings: TimeSettings = timeSettings()): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const f = fields(date, settings.utc);
  const ms = settings.ms ? `.${pad(f.ms, 3)}` : '';
  return `${f.year}-${pad(f.month)}-${pad(f.day)}T${pad(f.hours)}:${pad(f.minutes)}:${pad(f.seconds)}${ms}`;
}

const LOCAL_VALUE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/** A `datetime-local` value read in the settings' zone; null when it is not one. */
function parseLocalValue(value: string, settings: TimeSettings): { date: Date; hasMs: boolean } | null {
  const match = LOCAL_VALUE.exec(value);
  if (!match) return null;
  const [year, month, day, hours, minutes, seconds = 0] = match.slice(1, 7).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = match[7] ? Number(match[7].padEnd(3, '0')) : 0;
  const date = settings.utc
    ? new Date(Date.UTC(year, month - 1, day, hours, minutes, seconds, ms))
    : new Date(year, month - 1, day, hours, minutes, seconds, ms);
  return Number.isNaN(date.getTime()) ? null : { date, hasMs: match[7] !== undefined };
}

/** An ISO time (UTC) for a `datetime-local` input's value, or '' when it is empty or invalid. */
export function fromDateTimeLocal(value: string, settings: TimeSettings = timeSettings()): string {
  return parseLocalValue(value, settings)?.date.toISOString() ?? '';
}

/**
 * The last instant a picked time stands for, as the API takes it (to the microsecond): a time shown to the second
 * covers that whole second, so "as of" the time a version is shown at finds that version, which was recorded
 * within the second (10:15:00 → 10:15:00.999999). To the millisecond: the end of that millisecond.
 */
export function endOfPickedTime(value: string, settings: TimeSettings = timeSettings()): string {
  const parsed = parseLocalValue(value, settings);
  if (!parsed) return '';
  const iso = parsed.date.toISOString(); // …:SS.mmmZ
  return `${iso.slice(0, parsed.hasMs ? 23 : 19)}${parsed.hasMs ? '999' : '.999999'}Z`;
}

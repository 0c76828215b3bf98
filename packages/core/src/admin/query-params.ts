import { badParameter } from './errors.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
const MAX_TEXT = 1000;
/**
 * The longest value taken where a row key goes (a key, a cursor carrying one): as long as a URL that reaches the
 * server can be (Node's 16 KB of headers), since a primary key's index takes keys of 2.7 kB, longer when they
 * compress, and a composite key's JSON is longer still. At MAX_TEXT, a row with a longer key could not be read.
 */
export const MAX_KEY_TEXT = 16_384;

/**
 * Reads a request's query parameters, each once, with a 400 that names the parameter for anything invalid.
 * An empty value counts as absent (HTML forms send empty fields); a repeated parameter is refused rather than
 * guessed at. `Name` narrows the names a reader may ask for: a route's parser typed with the wire type's keys
 * (`QueryParams<keyof ChangeFilters>`) fails the type check when a filter is renamed on one side only.
 */
export class QueryParams<Name extends string = string> {
  readonly #query: URLSearchParams;

  constructor(query: URLSearchParams) {
    this.#query = query;
  }

  /** A text value: at most `maxLength` characters, no NUL (PostgreSQL text cannot hold it). */
  text(name: Name, maxLength = MAX_TEXT): string | undefined {
    return this.#read(name, maxLength);
  }

  #read(name: string, maxLength: number): string | undefined {
    const values = this.#query.getAll(name);
    if (values.length > 1) throw badParameter(name, 'given more than once');
    const value = values[0];
    if (value === undefined || value === '') return undefined;
    if (value.length > maxLength) throw badParameter(name, `longer than ${maxLength} characters`);
    if (value.includes('\u0000')) throw badParameter(name, 'contains a NUL character');
    return value;
  }

  required(name: Name, maxLength = MAX_TEXT): string {
    const value = this.text(name, maxLength);
    if (value === undefined) throw badParameter(name, 'is required');
    return value;
  }

  /** One of a fixed set of values, compared case-insensitively; returns the canonical spelling. */
  oneOf<T extends string>(name: Name, allowed: readonly T[]): T | undefined {
    const value = this.text(name, 64);
    if (value === undefined) return undefined;
    const found = allowed.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
    if (found === undefined) throw badParameter(name, `must be one of ${allowed.join(', ')}`);
    return found;
  }

  /** A value matching `pattern` (described by `expected` in the error). */
  matching(name: Name, pattern: RegExp, expected: string): string | undefined {
    const value = this.text(name, 256);
    if (value !== undefined && !pattern.test(value)) throw badParameter(name, `must be ${expected}`);
    return value;
  }

  /** The page size: 1..200, default 50. */
  limit(): number {
    const value = this.#read('limit', 16);
    if (value === undefined) return DEFAULT_LIMIT;
    if (!/^\d+$/.test(value)) throw badParameter('limit', `must be a whole number from 1 to ${MAX_LIMIT}`);
    const limit = Number(value);
    if (limit < 1 || limit > MAX_LIMIT) throw badParameter('limit', `must be from 1 to ${MAX_LIMIT}`);
    return limit;
  }

  /** A point in time, normalised to an ISO string with an explicit offset (see parseInstant). */
  instant(name: Name): string | undefined {
    const value = this.text(name, 64);
    if (value === undefined) return undefined;
    const instant = parseInstant(value);
    if (instant === undefined) {
      throw badParameter(name, INSTANT_REFUSED);
    }
    return instant;
  }
}

/** What a time parameter that parseInstant refuses is told, in a query string or a write's body. */
export const INSTANT_REFUSED =
  'must be an ISO 8601 date (2026-03-01, midnight UTC) or date-time with a time zone (2026-03-01T12:00:00Z, 2026-03-01T13:00:00+01:00)';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * An ISO 8601 date or date-time, checked field by field (Date.parse accepts 2026-02-30 and local times), as a
 * string PostgreSQL reads as the same instant whatever the session's TimeZone. A date means midnight UTC; a
 * date-time needs its zone, because the server's zone is not the user's. Microseconds are kept.
 */
export function parseInstant(value: string): string | undefined {
  const date = DATE.exec(value);
  if (date) {
    const [, year, month, day] = date as unknown as [string, string, string, string];
    return validDate(+year, +month, +day) ? `${year}-${month}-${day}T00:00:00Z` : undefined;
  }
  const dateTime = DATE_TIME.exec(value);
  if (!dateTime) return undefined;
  const [, year, month, day, hour, minute, second = '00', fraction = '', zone] = dateTime as unknown as string[];
  if (!validDate(Number(year), Number(month), Number(day))) return undefined;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  const offset = (zone as string).toUpperCase() === 'Z' ? 'Z' : normaliseOffset(zone as string);
  if (offset === undefined) return undefined;
  return `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction}${offset}`;
}

function validDate(year: number, month: number, day: number): boolean {
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate() || (month === 2 && day === 29 && isLeap(year));
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function normaliseOffset(zone: string): string | undefined {
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2));
  if (hours > 15 || minutes > 59) return undefined;
  return `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2)}`;
}

/** Microseconds since the epoch of an ISO string (Date keeps only milliseconds; stored times have microseconds). */
export function epochMicros(iso: string): number {
  const fraction = /\.(\d+)/.exec(iso)?.[1] ?? '';
  const millis = Date.parse(iso.replace(/\.\d+/, ''));
  return millis * 1000 + Number(`${fraction}000000`.slice(0, 6));
}

/** `from` before `to`, when both are given (400 `to` otherwise: an empty range is a mistake, not a query). */
export function assertRange(from: string | undefined, to: string | undefined): void {
  if (from !== undefined && to !== undefined && epochMicros(from) >= epochMicros(to)) {
    throw badParameter('to', 'must be later than from');
  }
}

/** A path segment naming a request or an actor: text like any other parameter (1..1000 characters, no NUL). */
export function pathText(name: string, value: string): string {
  if (value === '' || value.length > MAX_TEXT || value.includes('\u0000')) {
    throw badParameter(name, `must be 1 to ${MAX_TEXT} characters, without NUL`);
  }
  return value;
}

import { InvalidArgumentError } from 'commander';
import { MAX_VALUE_BYTES_LIMIT } from '../tracking/table-rules.js';

/** `a,b,c` → `['a', 'b', 'c']`; an empty list is a usage error. */
export function columnList(value: string): string[] {
  const columns = value
    .split(',')
    .map((column) => column.trim())
    .filter((column) => column !== '');
  if (columns.length === 0) throw new InvalidArgumentError('expected a comma-separated list of names.');
  return columns;
}

/** A whole number of months from 0 to 120. */
export function monthsAhead(value: string): number {
  const months = /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (!(months >= 0 && months <= 120)) throw new InvalidArgumentError('expected a whole number from 0 to 120.');
  return months;
}

/** A whole number of hours from 1 to 8,760 (a year). */
export function hours(value: string): number {
  const count = /^\d{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!(count >= 1 && count <= 8760))
    throw new InvalidArgumentError('expected a whole number of hours from 1 to 8760.');
  return count;
}

/** A whole number of milliseconds from 1 to 60,000. */
export function milliseconds(value: string): number {
  const ms = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(ms >= 1 && ms <= 60_000))
    throw new InvalidArgumentError('expected a whole number of milliseconds from 1 to 60000.');
  return ms;
}

/** A whole number of bytes from 1 to MAX_VALUE_BYTES_LIMIT (the maxValueBytes rule). */
export function maxValueBytes(value: string): number {
  const bytes = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(bytes >= 1 && bytes <= MAX_VALUE_BYTES_LIMIT)) {
    throw new InvalidArgumentError(`expected a whole number of bytes from 1 to ${MAX_VALUE_BYTES_LIMIT}.`);
  }
  return bytes;
}

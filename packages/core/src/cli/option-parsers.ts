import { InvalidArgumentError } from 'commander';

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

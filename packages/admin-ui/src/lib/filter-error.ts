import { ApiError } from '../api/client.ts';
import type { ApiState } from '../api/use-api.ts';

/** A filter the server refused: its name and the server's reason. */
export interface FilterError {
  parameter: string;
  message: string;
}

/** The filter a list's 400 names, when it is one of the form's (so the form can mark it and keep what was typed). */
export function filterError(result: ApiState<unknown>, names: readonly string[]): FilterError | null {
  if (result.status !== 'error' || !(result.error instanceof ApiError)) return null;
  const { status, parameter, message } = result.error;
  return status === 400 && parameter !== undefined && names.includes(parameter) ? { parameter, message } : null;
}

/** The attributes that mark a form field as the one refused, pointing at the line that says why. */
export function invalidField(name: string, error: FilterError | null | undefined) {
  return error?.parameter === name ? { 'aria-invalid': true, 'aria-describedby': `filter-error-${name}` } : {};
}

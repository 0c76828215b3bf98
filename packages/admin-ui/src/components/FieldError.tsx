import type { FilterError } from '../lib/filter-error.ts';

/** Under a refused filter field: why the server refused it (the field keeps what was typed). */
export function FieldError({ name, error }: { name: string; error: FilterError | null | undefined }) {
  if (error?.parameter !== name) return null;
  return (
    <span className="field-error" id={`filter-error-${name}`}>
      {error.message}
    </span>
  );
}

import { useRoute } from './routes.ts';

/**
 * Whether this user may write through the admin (revert, restore, undelete, undo), as `api/tables` says: false
 * until it answers, on a read-only mount, and when not `needed` (nothing is asked). The server refuses writes on
 * its own; this only hides the buttons.
 */
export function useCanWrite(needed = true): boolean {
  const tables = useRoute('tables', needed ? {} : null);
  return tables.status === 'ok' && tables.data.canWrite === true;
}

export const EXIT_OK = 0;
/** The database or the API reported a failure. */
export const EXIT_FAILURE = 1;
/** Unknown command or flag, bad flag value, no database given. */
export const EXIT_USAGE = 2;
/**
 * `sync --check`: the database differs from the config; `sync`: it still does (what sync cannot repair); `doctor`: a
 * problem found.
 */
export const EXIT_DRIFT = 3;
/** `as-of --key`: the table had no row with that key at that time. */
export const EXIT_NOT_FOUND = 4;

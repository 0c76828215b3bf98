import type { Queryable } from '../db/queryable.js';
import { connectionTrust, untrustedRoleAdvice } from './application-roles.js';

/** The `code` of the process warning emitted when the application's own context would not be trusted. */
export const UNTRUSTED_ROLE_WARNING = 'AUDITRUM_UNTRUSTED_ROLE';

/**
 * A check, run in the background, that the application's pool connects with an application role: otherwise every
 * change it makes is stored as `source: db` with its context only claimed, a mistake no error would reveal. It
 * warns at most once (a process warning), never throws and never delays the caller; it says nothing before the
 * schema is migrated (migrate() checks again afterwards) or when the database cannot be reached.
 */
export function untrustedRoleWarning(db: Queryable, schema: string): { check(): void } {
  let warned = false;
  return {
    check() {
      if (warned) return;
      connectionTrust(db, schema).then(
        ({ role, installed, trusted }) => {
          if (!installed || trusted || warned) return;
          warned = true;
          process.emitWarning(
            `auditrum: the application connects as database role "${role}", which is not an application role: ` +
              `its changes are stored as direct database writes and their context only as claimed; ${untrustedRoleAdvice(role)}`,
            { code: UNTRUSTED_ROLE_WARNING },
          );
        },
        () => undefined,
      );
    },
  };
}

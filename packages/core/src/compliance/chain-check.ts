import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { DoctorCheck } from './doctor.js';

/** Hours after which the chain's last seal is too old, unless told otherwise (doctor's --seal-max-age). */
export const DEFAULT_MAX_SEAL_AGE_HOURS = 24;

/**
 * Whether a last seal `ageHours` old is too old: rows written since are not yet tamper-evident. One rule for doctor
 * and the admin's integrity panel.
 */
export function sealTooOld(ageHours: number, maxSealAgeHours: number): boolean {
  return ageHours > maxSealAgeHours;
}

/**
 * Doctor's chain check: when the chain was last sealed and how many rows wait for a seal. Never sealed is `not_enabled`
 * (sealing is the operator's to schedule); a last seal older than `maxSealAgeHours` is a problem, as rows written
 * since are not yet tamper-evident.
 */
export async function chainCheck(db: Queryable, schema: string, maxSealAgeHours: number): Promise<DoctorCheck> {
  const s = quoteIdentifier(schema);
  const { rows } = await db.query<{
    last_sealed_at: Date | null;
    last_seq: string;
    unsealed: string;
    age_hours: number;
  }>(
    `SELECT last_sealed_at, last_seq::text, unsealed::text,
       extract(epoch FROM now() - last_sealed_at)::float8 / 3600 AS age_hours
     FROM ${s}.chain_status()`,
  );
  const status = rows[0];
  if (status?.last_sealed_at == null) {
    return {
      check: 'chain',
      subject: 'chain',
      status: 'not_enabled',
      detail: `never sealed (${status?.unsealed ?? 0} row(s) to seal): run auditrum seal on a schedule`,
    };
  }
  const detail = `last sealed ${status.last_sealed_at.toISOString()} (${status.age_hours.toFixed(1)} h ago), ${status.last_seq} link(s), ${status.unsealed} row(s) not sealed yet`;
  return sealTooOld(status.age_hours, maxSealAgeHours)
    ? { check: 'chain', subject: 'chain', status: 'problem', detail: `${detail}: older than ${maxSealAgeHours} h` }
    : { check: 'chain', subject: 'chain', status: 'ok', detail };
}

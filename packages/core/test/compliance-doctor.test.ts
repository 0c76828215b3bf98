import { ComplianceInputError, doctor } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

// A freshly migrated schema (by a superuser: the guard is installed) with nothing tracked yet.
const db = useTestDatabase();

describe('doctor', () => {
  it('on a fresh schema: nothing tracked is said, not counted as a problem', async () => {
    const report = await doctor(db.pool, 'auditrum');
    expect(report).toEqual({
      ok: true,
      checks: [
        { check: 'capture', subject: 'auditrum', status: 'not_enabled', detail: 'no table is tracked' },
        {
          check: 'guard',
          subject: 'auditrum',
          status: 'ok',
          detail: 'dropping, disabling or replacing a capture trigger is refused',
        },
        {
          check: 'partitions',
          subject: 'changes',
          status: 'ok',
          detail: 'partitions exist for this month and 1 ahead',
        },
        {
          check: 'partitions',
          subject: 'api_requests',
          status: 'ok',
          detail: 'partitions exist for this month and 1 ahead',
        },
        // The superuser that migrated is an application role from the start, but no privilege binds a superuser.
        { check: 'append_only', subject: 'auditrum', status: 'ok', detail: 'only postgres may change the logs' },
        {
          check: 'chain',
          subject: 'chain',
          status: 'not_enabled',
          detail: 'never sealed (0 row(s) to seal): run auditrum seal on a schedule',
        },
      ],
    });
  });

  it('names a tracked table dropped and made again (a rebuild) that is no longer tracked, until it is', async () => {
    await db.pool.query('CREATE TABLE rebuilt (id int PRIMARY KEY, note text)');
    await db.pool.query(`SELECT auditrum.track('rebuilt')`);
    expect((await doctor(db.pool, 'auditrum')).ok).toBe(true);
    // A common migration: copy, drop, rename. The drop is allowed and recorded; the copy is not tracked.
    await db.pool.query(
      'CREATE TABLE rebuilt_new AS SELECT * FROM rebuilt; DROP TABLE rebuilt; ALTER TABLE rebuilt_new RENAME TO rebuilt',
    );
    const { rows } = await db.pool.query<{ at: Date }>(
      `SELECT changed_at AS at FROM auditrum.changes WHERE operation = 'DDL' AND new_values ->> 'event' = 'table_dropped'`,
    );
    const found = await doctor(db.pool, 'auditrum');
    // It was ok: no tracked table left to miss a trigger.
    expect(found.ok).toBe(false);
    expect(found.checks).toContainEqual({
      check: 'capture',
      subject: 'public.rebuilt',
      status: 'problem',
      detail: `dropped at ${rows[0]?.at.toISOString()} while tracked; the table of that name now is not tracked, its changes are not recorded (auditrum track public.rebuilt)`,
    });
    await db.pool.query(`SELECT auditrum.track('rebuilt', '{"key": ["id"]}')`);
    expect((await doctor(db.pool, 'auditrum')).ok).toBe(true);
    // Tracked again, then untracked on purpose: said by no check.
    await db.pool.query(`SELECT auditrum.untrack('rebuilt')`);
    expect((await doctor(db.pool, 'auditrum')).checks.filter((c) => c.subject === 'public.rebuilt')).toEqual([]);
  });

  it.each([1.5, -1, 121, Number.NaN])('the API refuses monthsAhead %s', async (monthsAhead) => {
    await expect(doctor(db.pool, 'auditrum', { monthsAhead })).rejects.toThrow(ComplianceInputError);
  });

  it('a schema that is not installed: exit 1, saying so', async () => {
    const result = await runCli(['doctor', '--schema', 'nowhere'], {
      env: { DATABASE_URL: db.url },
      cwd: process.cwd(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is Auditrum installed in this schema? run "auditrum migrate"');
  });
});

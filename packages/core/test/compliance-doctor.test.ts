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

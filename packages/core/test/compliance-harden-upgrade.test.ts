import { erase, harden, migrate } from '@auditrum/core';
import type { ApiRequestSummary } from '@auditrum/core/admin';
import { useAdminRole, useEmptyDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRead } from './admin-read.js';
import { migrateUpTo } from './migrate-up-to.js';

// An install hardened at schema version 32, then upgraded by the admin role's migrate without harden run again: a
// table the upgrade adds (erased_api_requests, version 33) is readable by the application role as harden would have
// made it, so the admin mounted on the application's pool filters the API log by an `erased:<n>` actor.
const db = useEmptyDatabase();
const appRole = useAdminRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let owner: pg.Pool;

async function insertApiRequest(requestId: string, actorId: string): Promise<void> {
  await app.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, status, duration_ms, actor_id)
     VALUES (now(), $1, 'GET', '/', 200, 1, $2)`,
    [requestId, actorId],
  );
}

beforeAll(async () => {
  await migrateUpTo(db.pool, 33);
  await db.pool.query(`GRANT CREATE ON SCHEMA public TO ${appRole.name}`);
  await db.pool.query('SELECT auditrum.add_application_role($1::regrole)', [appRole.name]);
  // Version 32's harden: today's statements but the grant on month_ids (version 34's ended_month_ids), which it did not
  // have.
  const { statements } = await harden(db.pool, 'auditrum', {
    appRole: appRole.name,
    adminRole: adminRole.name,
    dryRun: true,
  });
  await db.pool.query(
    ['BEGIN', ...statements.filter((s) => !s.startsWith('--') && !s.includes('month_ids')), 'COMMIT'].join(';\n'),
  );
  app = appRole.openPool({ max: 2 });
  owner = adminRole.openPool({ max: 2 });
  await migrate(owner);
  await insertApiRequest('req-alice', 'alice-7');
  const erased = await erase(owner, 'auditrum', { subject: { actorId: 'alice-7' }, reason: 'GDPR request 1' });
  expect(erased).toMatchObject({ erasureId: '1', apiRequests: 1 });
  await insertApiRequest('req-lookalike', 'erased:1');
});

afterAll(async () => {
  await Promise.all([app, owner].map((pool) => pool.end()));
});

describe('a table an upgrade adds to a hardened install', () => {
  it.each([
    ['application', () => app],
    ['admin', () => owner],
  ])('is read by the %s role: the API log filtered by an erased:<n> actor', async (_role, pool) => {
    const requests = async (query: Record<string, string>) =>
      (await adminRead<{ items: ApiRequestSummary[] }>(pool(), 'api/requests', query)).items.map((r) => [
        r.requestId,
        r.actor,
      ]);
    expect(await requests({ actor: 'erased:1' })).toEqual([['req-lookalike', { id: 'erased:1', label: null }]]);
    expect(await requests({ erasure: '1' })).toEqual([['req-alice', { id: 'erased:1', label: null, erasure: '1' }]]);
  });

  it('is granted to the application role to read alone, as harden grants it', async () => {
    const { rows } = await db.pool.query(
      `SELECT pg_get_userbyid(c.relowner) = $2 AS owned_by_admin, array_agg(a.privilege_type ORDER BY 1)
         FILTER (WHERE a.grantee = $1::regrole) AS app
       FROM pg_class c LEFT JOIN LATERAL aclexplode(c.relacl) a ON true
       WHERE c.oid = 'auditrum.erased_api_requests'::regclass GROUP BY c.relowner`,
      [appRole.name, adminRole.name],
    );
    expect(rows).toEqual([{ owned_by_admin: true, app: ['SELECT'] }]);
    const write = await app.query('DELETE FROM auditrum.erased_api_requests').catch((e: unknown) => e);
    expect((write as { code?: string }).code).toBe('42501');
  });
});

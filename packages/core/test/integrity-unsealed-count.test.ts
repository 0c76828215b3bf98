import { createAuditrum, harden, integrityStatus, seal } from '@auditrum/core';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The integrity panel's "rows not sealed yet": counted exactly up to a limit, estimated above it (issue 15: a
// never-sealed log of a million rows took 120 ms to count). Two-role set-up: the application's non-superuser role
// owns the tracked table and reads the status (after harden); the admin role seals.
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let owner: pg.Pool;

/** What chain_status() (migration 9) counts: the exact figure the panel's count must agree with. */
async function chainStatusUnsealed(): Promise<number> {
  const { rows } = await app.query<{ n: number }>('SELECT unsealed::int AS n FROM auditrum.chain_status()');
  return rows[0]?.n ?? -1;
}

async function unsealed(exactCountUpTo?: number) {
  const status = await integrityStatus(app, 'auditrum', exactCountUpTo === undefined ? {} : { exactCountUpTo });
  if (!status.readable) throw new Error(`unreadable: ${status.missing.join(', ')}`);
  return { unsealed: status.chain.unsealed, estimated: status.chain.unsealedEstimated };
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  createAuditrum({ pool: app, partitions: false });
  owner = adminRole.openPool({ max: 1 });
  await app.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  await db.pool.query(`SELECT auditrum.track('items')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
  await app.query(`INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 30) g`);
});

afterAll(async () => {
  await Promise.all([app, owner].map((pool) => pool.end()));
});

describe('rows not sealed yet', () => {
  it('are counted exactly up to the limit, as chain_status() counts them', async () => {
    expect(await chainStatusUnsealed()).toBe(30);
    expect(await unsealed()).toEqual({ unsealed: 30, estimated: false });
    expect(await unsealed(30)).toEqual({ unsealed: 30, estimated: false });
  });

  it('are estimated above the limit from the span of ids (the ids are consecutive here: the same figure)', async () => {
    expect(await unsealed(29)).toEqual({ unsealed: 30, estimated: true });
    expect(await unsealed(1)).toEqual({ unsealed: 30, estimated: true });
  });

  it('after a seal that a transaction still open outlived: its rows and later ones wait, and no more', async () => {
    const writer = await app.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`UPDATE items SET note = 'open' WHERE id <= 5`);
      const sealed = await seal(owner, 'auditrum');
      expect(sealed.rows).toBe(30);
      await writer.query('COMMIT');
    } finally {
      writer.release();
    }
    await app.query(`UPDATE items SET note = 'later' WHERE id > 20`);
    expect(await chainStatusUnsealed()).toBe(15);
    expect(await unsealed()).toEqual({ unsealed: 15, estimated: false });
    // The estimate counts from the floor the last seal leaves (rows already sealed above it included): never less.
    const estimate = await unsealed(14);
    expect(estimate.estimated).toBe(true);
    expect(estimate.unsealed).toBeGreaterThanOrEqual(15);
    expect(estimate.unsealed).toBeLessThanOrEqual(45);
  });

  it('once everything is sealed: 0, exact, whatever the limit', async () => {
    await seal(owner, 'auditrum');
    expect(await chainStatusUnsealed()).toBe(0);
    expect(await unsealed(1)).toEqual({ unsealed: 0, estimated: false });
  });

  it('by default counts up to 1,000: the admin route marks a larger number as an estimate', async () => {
    await app.query(`INSERT INTO items SELECT g, 'bulk' FROM generate_series(1000, 2199) g`);
    expect(await chainStatusUnsealed()).toBe(1200);
    const admin = createAdminRoutes({ pool: app, authorize: () => true });
    const response = await admin({
      method: 'GET',
      path: 'api/integrity',
      query: new URLSearchParams(),
      headers: {},
      basePath: '/audit-admin',
      raw: null,
    });
    expect(response.status).toBe(200);
    const { chain } = JSON.parse(String(response.body)) as { chain: { unsealed: number; unsealedEstimated: boolean } };
    expect(chain.unsealedEstimated).toBe(true);
    // The span since the last seal's floor: the 1,200 waiting rows and at most the 45 written before them.
    expect(chain.unsealed).toBeGreaterThanOrEqual(1200);
    expect(chain.unsealed).toBeLessThanOrEqual(1245);
    expect(await unsealed(1200)).toEqual({ unsealed: 1200, estimated: false });
  });

  it('refuses a limit that is not a whole number from 1 to 1,000,000', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 1_000_001, Number.POSITIVE_INFINITY]) {
      await expect(integrityStatus(app, 'auditrum', { exactCountUpTo: bad })).rejects.toThrow(
        `auditrum: exactCountUpTo must be a whole number from 1 to 1000000, not ${String(bad)}`,
      );
    }
  });
});

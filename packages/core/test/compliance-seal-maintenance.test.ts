import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Checkpoint } from '@auditrum/core';
import { ComplianceInputError, createAuditrum, harden, startSealMaintenance, verify } from '@auditrum/core';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpointSignatureHolds } from '../src/compliance/checkpoint.js';

// The library's own sealing (startSealMaintenance, createAuditrum({ seal })) in the two-role set-up: the application's
// role writes, a non-superuser admin role owns the schema after harden and seals from its own process.
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let admin: pg.Pool;
const keys = generateKeyPairSync('ed25519');

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  admin = adminRole.openPool({ max: 2 });
  await app.query('CREATE TABLE tickets (id int PRIMARY KEY, state text)');
  await db.pool.query(`SELECT auditrum.track('tickets')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
});

async function unsealed(): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>('SELECT unsealed::text AS n FROM auditrum.chain_status()');
  return Number(rows[0]?.n);
}

/** Polls until `done` holds (the timer's next run), failing after 20 s. */
async function until(done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('the seal maintenance did not run');
    await sleep(50);
  }
}

describe("the library's own sealing", () => {
  it('seals at start and then each interval, handing each signed checkpoint over; the chain verifies', async () => {
    await app.query(`INSERT INTO tickets VALUES (1, 'open'), (2, 'open')`);
    const checkpoints: Checkpoint[] = [];
    const audit = createAuditrum({
      pool: admin,
      partitions: false,
      seal: { intervalMs: 1000, signingKey: keys.privateKey, onCheckpoint: (c) => void checkpoints.push(c) },
    });
    try {
      await until(async () => checkpoints.length >= 1);
      expect(await unsealed()).toBe(0);
      expect(checkpoints[0]).toMatchObject({ type: 'auditrum.checkpoint', seq: '2' });
      await app.query(`UPDATE tickets SET state = 'closed' WHERE id = 1`);
      await until(async () => checkpoints.some((c) => c.seq === '3'));
      expect(await unsealed()).toBe(0);
    } finally {
      await audit.close();
    }
    expect(checkpoints.every((checkpoint) => checkpointSignatureHolds(checkpoint, keys.publicKey))).toBe(true);
    // The checkpoints check against the chain as verify reads it.
    const result = await verify(admin, 'auditrum', { checkpoints, publicKey: keys.publicKey });
    expect(result.problems).toEqual([]);
  });

  it("reports a role that may not seal to onError, and keeps the app's process running", async () => {
    const errors: unknown[] = [];
    const maintenance = startSealMaintenance(app, 'auditrum', { onError: (error) => errors.push(error) });
    await maintenance.ready;
    maintenance.stop();
    expect(errors).toHaveLength(1);
    expect((errors[0] as { code?: string }).code).toBe('42501');
  });

  it.each([
    [{ intervalMs: 999 }, 'seal interval must be at least 1000 ms, not 999'],
    [{ intervalMs: Number.NaN }, 'seal interval must be at least 1000 ms, not NaN'],
    // A Node timer cannot wait longer: it sealed every millisecond instead.
    [{ intervalMs: 2 ** 31 }, 'seal interval must be at most 2147483647 ms (about 24.8 days'],
    [{ signingKey: keys.privateKey }, 'give signingKey and onCheckpoint together'],
    [{ onCheckpoint: () => {} }, 'give signingKey and onCheckpoint together'],
  ])('refuses %o before sealing anything', (options, message) => {
    expect(() => startSealMaintenance(admin, 'auditrum', options)).toThrow(ComplianceInputError);
    expect(() => startSealMaintenance(admin, 'auditrum', options)).toThrow(message);
  });
});

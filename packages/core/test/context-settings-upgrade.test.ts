import { migrate } from '@auditrum/core';
import { useEmptyDatabase } from '@auditrum/test-kit';
import { beforeAll, expect, it } from 'vitest';
import { migrateUpTo } from './migrate-up-to.js';

// A table tracked under schema version 14, before the capture function read the connection's settings: the upgrade
// regenerates its capture function (migration 15 ends with _reinstall_all()), so a gateway's write is attributed
// from then on without tracking the table again.
const db = useEmptyDatabase();
const SETTINGS_CONTEXT = 15;

/** One UPDATE in a transaction where PostgREST's claims are set, and the actor and source it recorded. */
async function gatewayWrite(amount: number): Promise<{ actor_id: string | null; source: unknown }> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('request.jwt.claims', '{"sub":"u-1","role":"authenticated"}', true)`);
    await client.query('UPDATE public.wallets SET amount = $1 WHERE id = 1', [amount]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const { rows } = await db.pool.query<{ actor_id: string | null; source: unknown }>(
    "SELECT actor_id, context->'source' AS source FROM auditrum.changes ORDER BY id DESC LIMIT 1",
  );
  return rows[0] as { actor_id: string | null; source: unknown };
}

beforeAll(async () => {
  await migrateUpTo(db.pool, SETTINGS_CONTEXT);
  await db.pool.query('CREATE TABLE public.wallets (id int PRIMARY KEY, amount int NOT NULL)');
  await db.pool.query('INSERT INTO public.wallets VALUES (1, 0)');
  await db.pool.query("SELECT auditrum.track('public.wallets')");
});

it("attributes a gateway's write to its user once the schema is upgraded, the table tracked before", async () => {
  expect(await gatewayWrite(1)).toEqual({ actor_id: null, source: 'db' });
  await migrate(db.pool);
  // Gateways are read once the host turns it on (version 19), which regenerates the table's capture function.
  expect(await gatewayWrite(2)).toEqual({ actor_id: null, source: 'db' });
  await db.pool.query('SELECT auditrum.read_gateway_settings(true)');
  expect(await gatewayWrite(3)).toEqual({ actor_id: 'u-1', source: 'gateway' });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// The usual set-up: the schema migrated by a superuser (so the event triggers exist), the tables created and
// owned by a non-superuser application role, tracked by the superuser.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let dir: string;
let audit: ReturnType<typeof createAuditrum>;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  audit = createAuditrum({ pool: db.pool, partitions: false });
  dir = await mkdtemp(join(tmpdir(), 'auditrum-guard-'));
});

afterAll(() => rm(dir, { recursive: true, force: true }));

interface ChangeRow {
  operation: string;
  row_key: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
}

async function changesOf(table: string): Promise<ChangeRow[]> {
  const { rows } = await db.pool.query<ChangeRow>(
    `SELECT c.operation, c.row_key, c.old_values, c.new_values FROM auditrum.changes c
     JOIN auditrum.tracked_tables t ON t.id = c.table_id WHERE t.table_name = $1 ORDER BY c.id`,
    [table],
  );
  return rows;
}

/** A table created by the application role and tracked by the superuser; returns its table id. */
async function appTable(name: string, columns = 'id int PRIMARY KEY, name text'): Promise<number> {
  await app.query(`CREATE TABLE ${name} (${columns})`);
  const result = await audit.track(name);
  return result.tableId as number;
}

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: db.url }, cwd: dir });
}

const howTo = (table: string) =>
  `to stop auditing a table, run "auditrum untrack ${table}" as the owner of the Auditrum schema`;

describe('capture guard (event triggers present)', () => {
  it("refuses every statement of the table's owner that would stop capture, naming it, and history keeps flowing", async () => {
    const id = await appTable('items');
    await app.query(`INSERT INTO items VALUES (1, 'a')`);
    const refused: [string, string][] = [
      [
        'DROP TRIGGER auditrum_capture_update ON items',
        'DROP TRIGGER refused: it would stop the auditing of public.items (trigger auditrum_capture_update dropped)',
      ],
      [
        'ALTER TABLE items DISABLE TRIGGER auditrum_capture_update',
        'ALTER TABLE refused: it would stop the auditing of public.items (trigger auditrum_capture_update is disabled)',
      ],
      [
        'ALTER TABLE items DISABLE TRIGGER ALL',
        'public.items (trigger auditrum_capture_insert is disabled, trigger auditrum_capture_update is disabled, trigger auditrum_capture_delete is disabled, trigger auditrum_capture_truncate is disabled)',
      ],
      ['ALTER TABLE items DISABLE TRIGGER USER', 'trigger auditrum_capture_truncate is disabled'],
      [
        'ALTER TABLE items ENABLE REPLICA TRIGGER auditrum_capture_delete',
        '(trigger auditrum_capture_delete fires only for replication (ENABLE REPLICA))',
      ],
      [
        'ALTER TRIGGER auditrum_capture_update ON items RENAME TO renamed',
        'ALTER TRIGGER refused: it would stop the auditing of public.items (trigger auditrum_capture_update is missing)',
      ],
      [
        'CREATE RULE silence AS ON UPDATE TO items DO INSTEAD NOTHING',
        'CREATE RULE refused: it would stop the auditing of public.items (rule silence replaces UPDATE (DO INSTEAD))',
      ],
      [
        'CREATE RULE elsewhere AS ON INSERT TO items DO INSTEAD SELECT 1',
        '(rule elsewhere replaces INSERT (DO INSTEAD))',
      ],
    ];
    for (const [statement, message] of refused) {
      const error = await app.query(statement).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message, statement).toContain(message);
      expect(error?.message, statement).toContain(howTo('public.items'));
      expect((error as { code?: string } | undefined)?.code).toBe('42501');
    }
    // The capture function belongs to the schema owner: the table's owner cannot drop it, and its owner is refused.
    await expect(app.query(`DROP FUNCTION auditrum.capture_${id}() CASCADE`)).rejects.toThrow(
      'must be owner of function',
    );
    await expect(db.pool.query(`DROP FUNCTION auditrum.capture_${id}() CASCADE`)).rejects.toThrow(
      `DROP FUNCTION refused: it would stop the auditing of public.items (function auditrum.capture_${id}() dropped, trigger auditrum_capture_insert dropped`,
    );
    // The permission is a keyed hash of the transaction id: it cannot be set, nor granted to oneself.
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL auditrum.capture_ddl = '${'0'.repeat(64)}'`);
      await expect(client.query('DROP TRIGGER auditrum_capture_insert ON items')).rejects.toThrow(
        'DROP TRIGGER refused',
      );
      await client.query('ROLLBACK');
      await expect(client.query('SELECT auditrum._allow_capture_ddl(true)')).rejects.toThrow(
        'permission denied for function _allow_capture_ddl',
      );
    } finally {
      client.release();
    }
    // Code that the statement itself runs (a column default, per row) cannot make what the statement broke pass
    // for broken before it: not with the setting an earlier version kept it in, nor by running a guarded statement
    // of its own, whose start sees what the outer statement already did.
    await app.query('CREATE TABLE items_base (id int, name text)');
    await app.query(`CREATE FUNCTION forge() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM set_config('auditrum.capture_known', '{"${id}:trigger auditrum_capture_update is disabled"}|x', true);
        EXECUTE 'ALTER TABLE public.items_base SET (fillfactor = 50)';
        RETURN 0;
      END $$`);
    await expect(
      app.query(
        'ALTER TABLE items DISABLE TRIGGER auditrum_capture_update, INHERIT items_base, ADD COLUMN sneaky int DEFAULT forge()',
      ),
    ).rejects.toThrow(
      '(trigger auditrum_capture_update is disabled, writes through parent public.items_base are not recorded)',
    );

    // What does not stop capture is not refused.
    await app.query('ALTER TABLE items ENABLE ALWAYS TRIGGER auditrum_capture_update');
    await app.query('CREATE RULE also_nothing AS ON UPDATE TO items DO ALSO NOTHING');
    await app.query('DROP RULE also_nothing ON items');

    await app.query(`UPDATE items SET name = 'b'`);
    await app.query('DELETE FROM items');
    await app.query('TRUNCATE items');
    expect(await changesOf('items')).toEqual([
      { operation: 'INSERT', row_key: '1', old_values: null, new_values: { id: 1, name: 'a' } },
      { operation: 'UPDATE', row_key: '1', old_values: { name: 'a' }, new_values: { name: 'b' } },
      { operation: 'DELETE', row_key: '1', old_values: { id: 1, name: 'b' }, new_values: null },
      { operation: 'TRUNCATE', row_key: null, old_values: null, new_values: null },
    ]);
    const status = await audit.status();
    expect(status.tamperingPrevented).toBe(true);
    expect(status.tables.find((t) => t.table === 'public.items')).toMatchObject({ enabledTriggers: 4, problems: [] });
    // What the guard keeps per statement lives only while the statement runs.
    expect((await db.pool.query('SELECT count(*)::int AS n FROM auditrum._guard_known')).rows).toEqual([{ n: 0 }]);
  });

  it('refuses making a tracked table a partition or inheritance child of a table that is not tracked', async () => {
    await appTable('lines');
    await app.query(`INSERT INTO lines VALUES (1, 'a')`);
    await app.query('CREATE TABLE line_groups (id int PRIMARY KEY, name text) PARTITION BY RANGE (id)');
    await app.query('CREATE TABLE line_base (id int, name text)');
    const trackFirst = (parent: string) =>
      `to make a tracked table a partition or inheritance child, track its parent first: run "auditrum track ${parent}" as the owner of the Auditrum schema`;
    const refused: [string, string, string][] = [
      [
        'ALTER TABLE line_groups ATTACH PARTITION lines FOR VALUES FROM (MINVALUE) TO (MAXVALUE)',
        'ALTER TABLE refused: it would stop the auditing of public.lines (writes through parent public.line_groups are not recorded)',
        'public.line_groups',
      ],
      [
        'ALTER TABLE lines INHERIT line_base',
        'ALTER TABLE refused: it would stop the auditing of public.lines (writes through parent public.line_base are not recorded)',
        'public.line_base',
      ],
    ];
    for (const [statement, message, parent] of refused) {
      const error = await app.query(statement).then(
        () => undefined,
        (e: Error) => e as Error & { code?: string; hint?: string },
      );
      expect(error?.message, statement).toBe(`auditrum: ${message}; ${trackFirst(parent)}`);
      expect(error?.code).toBe('42501');
      expect(error?.hint).toBe(`In SQL: SELECT auditrum.track('${parent}');`);
    }

    // Done properly: the parent tracked first, a write through it is recorded (as the parent's), and so is one
    // made to the partition itself.
    await audit.track('line_groups');
    await app.query('ALTER TABLE line_groups ATTACH PARTITION lines FOR VALUES FROM (MINVALUE) TO (MAXVALUE)');
    await app.query(`UPDATE line_groups SET name = 'through parent'`);
    await app.query(`UPDATE lines SET name = 'direct'`);
    expect(await changesOf('line_groups')).toEqual([
      { operation: 'UPDATE', row_key: '1', old_values: { name: 'a' }, new_values: { name: 'through parent' } },
    ]);
    expect((await changesOf('lines')).map((c) => c.new_values)).toEqual([{ id: 1, name: 'a' }, { name: 'direct' }]);

    // A level up: attaching the tracked parent to a table that is not tracked breaks both, the partition too.
    await app.query('CREATE TABLE line_all (id int, name text) PARTITION BY RANGE (id)');
    await expect(
      app.query('ALTER TABLE line_all ATTACH PARTITION line_groups FOR VALUES FROM (MINVALUE) TO (MAXVALUE)'),
    ).rejects.toThrow(
      'public.line_groups (writes through parent public.line_all are not recorded); public.lines (writes through parent public.line_all are not recorded)',
    );
    const status = await audit.status();
    for (const table of ['public.lines', 'public.line_groups']) {
      expect(status.tables.find((t) => t.table === table)?.problems, table).toEqual([]);
    }
  });

  it("lets the owner drop its own triggers whose names only look like a capture trigger's", async () => {
    await appTable('lookalikes');
    await app.query(`CREATE FUNCTION nothing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`);
    // `_` is a LIKE wildcard: a pattern would take the second name for a capture trigger too.
    for (const name of ['auditrum_capture_mine', 'auditrumXcaptureXinsert']) {
      await app.query(`CREATE TRIGGER "${name}" AFTER INSERT ON lookalikes EXECUTE FUNCTION nothing()`);
      await app.query(`DROP TRIGGER "${name}" ON lookalikes`);
    }
    const { rows } = await db.pool.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'lookalikes'::regclass ORDER BY tgname`,
    );
    expect(rows.map((r) => r.tgname)).toEqual([
      'auditrum_capture_delete',
      'auditrum_capture_insert',
      'auditrum_capture_truncate',
      'auditrum_capture_update',
    ]);
  });

  it('lets the schema owner untrack, and a dropped table stops being tracked with its capture function', async () => {
    const id = await appTable('notes');
    await app.query(`INSERT INTO notes VALUES (1, 'kept')`);
    expect((await audit.untrack('notes')).action).toBe('untracked');
    await app.query(`INSERT INTO notes VALUES (2, 'not recorded')`);
    // The untracking is the table's last change recorded: a DDL row with the statements that stopped capture.
    const notes = await changesOf('notes');
    expect(notes.map((c) => [c.operation, c.row_key])).toEqual([
      ['INSERT', '1'],
      ['DDL', null],
    ]);
    expect(notes[1]?.new_values).toMatchObject({ event: 'untracked' });
    expect(notes[1]?.new_values?.ddl).toContain('DROP TRIGGER IF EXISTS auditrum_capture_insert ON public.notes;');
    // Untracking is not the table owner's to do.
    await audit.track('notes');
    await expect(app.query(`SELECT auditrum.untrack('notes')`)).rejects.toThrow('permission denied');

    const gone = await appTable('drafts');
    await app.query('DROP TABLE drafts');
    const { rows } = await db.pool.query(
      `SELECT untracked_at IS NOT NULL AS untracked, to_regprocedure(format('auditrum.capture_%s()', id)) AS fn
       FROM auditrum.tracked_tables WHERE id = $1`,
      [gone],
    );
    expect(rows).toEqual([{ untracked: true, fn: null }]);
    expect((await audit.status()).tables.map((t) => t.table)).not.toContain('public.drafts');
    expect(id).not.toBe(gone);
  });
});

describe("ALTER TABLE by the table's owner (not a superuser)", () => {
  it('succeeds and is followed: added, renamed and dropped columns, renamed table', async () => {
    await appTable('products', 'id int PRIMARY KEY, title text, price int');
    await app.query('ALTER TABLE products ADD COLUMN extra int');
    await app.query(`INSERT INTO products VALUES (1, 't', 5, 7)`);
    await app.query('ALTER TABLE products RENAME COLUMN extra TO bonus');
    await app.query('UPDATE products SET bonus = 8');
    await app.query('ALTER TABLE products DROP COLUMN title');
    await app.query('ALTER TABLE products RENAME TO goods');
    await app.query('UPDATE goods SET price = 6');
    await app.query('DELETE FROM goods');
    expect(await changesOf('goods')).toEqual([
      { operation: 'INSERT', row_key: '1', old_values: null, new_values: { id: 1, title: 't', price: 5, extra: 7 } },
      { operation: 'UPDATE', row_key: '1', old_values: { bonus: 7 }, new_values: { bonus: 8 } },
      { operation: 'UPDATE', row_key: '1', old_values: { price: 5 }, new_values: { price: 6 } },
      { operation: 'DELETE', row_key: '1', old_values: { id: 1, price: 6, bonus: 8 }, new_values: null },
    ]);
    expect((await audit.status()).tables.find((t) => t.table === 'public.goods')).toMatchObject({
      drifted: false,
      problems: [],
    });
  });

  it('is still refused, with its reason, when it would break auditing', async () => {
    await appTable('invoices', 'id int PRIMARY KEY, status text');
    await audit.track('invoices', { when: "NEW.status <> 'draft'" });
    await expect(app.query('ALTER TABLE invoices DROP COLUMN id')).rejects.toThrow(
      'a key column of table public.invoices no longer exists',
    );
    await expect(app.query('ALTER TABLE invoices DROP COLUMN status')).rejects.toThrow(
      'invalid "when" condition for table public.invoices',
    );
    await app.query(`INSERT INTO invoices VALUES (1, 'sent')`);
    expect((await changesOf('invoices')).map((c) => c.new_values)).toEqual([{ id: 1, status: 'sent' }]);
  });
});

// Last: it drops the event triggers, as a database migrated without a superuser has none.
describe('without event triggers (migrated without a superuser)', () => {
  beforeAll(async () => {
    await db.pool.query(`DROP EVENT TRIGGER auditrum_capture_guard_start; DROP EVENT TRIGGER auditrum_capture_guard;
      DROP EVENT TRIGGER auditrum_capture_guard_drop; DROP EVENT TRIGGER auditrum_follow_ddl;
      DROP EVENT TRIGGER auditrum_track_new_tables`);
  });

  it('status and sync --check detect what the owner did, sync repairs triggers and reports rules', async () => {
    await appTable('orders');
    await app.query('DROP TRIGGER auditrum_capture_insert ON orders');
    await app.query('ALTER TABLE orders DISABLE TRIGGER auditrum_capture_update');
    await app.query('ALTER TABLE orders ENABLE REPLICA TRIGGER auditrum_capture_delete');
    await app.query(`INSERT INTO orders VALUES (1, 'lost')`);
    expect(await changesOf('orders')).toEqual([]);

    const problems = [
      'trigger auditrum_capture_insert is missing',
      'trigger auditrum_capture_update is disabled',
      'trigger auditrum_capture_delete fires only for replication (ENABLE REPLICA)',
    ];
    const status = await audit.status();
    expect(status.tamperingPrevented).toBe(false);
    expect(status.tables.find((t) => t.table === 'public.orders')).toMatchObject({ enabledTriggers: 1, problems });
    const text = await cli(['status']);
    expect(text.stdout).toContain('capture triggers:  dropping or disabling them is only detected');
    expect(text.stdout).toMatch(new RegExp(`public\\.orders +1/4 +${problems.join(', ').replace(/[()]/g, '\\$&')}`));

    await writeFile(join(dir, 'auditrum.config.json'), JSON.stringify({ tables: { 'public.orders': {} } }));
    const check = await cli(['sync', '--check']);
    expect(check.code).toBe(3);
    expect(check.stdout).toMatch(
      new RegExp(`^~ public\\.orders +${problems.join('; ').replace(/[()]/g, '\\$&')}$`, 'm'),
    );
    const repaired = await cli(['sync']);
    expect(repaired).toMatchObject({ code: 0, stderr: '' });
    expect(repaired.stdout).toContain('applied: 1 table(s) changed');
    expect(await cli(['sync', '--check'])).toMatchObject({ code: 0, stderr: '' });
    await app.query(`UPDATE orders SET name = 'seen'`);
    await app.query('DELETE FROM orders');
    // The repair is in the log itself, before the changes recorded again: what was wrong and what sync ran.
    const logged = await changesOf('orders');
    expect(logged.map((c) => c.operation)).toEqual(['DDL', 'UPDATE', 'DELETE']);
    expect(logged[0]?.old_values).toEqual({ problems: [...problems].sort() });
    expect(logged[0]?.new_values).toMatchObject({ event: 'capture_repaired' });
    expect(logged[0]?.new_values?.ddl).toMatch(
      /^CREATE TRIGGER auditrum_capture_insert AFTER INSERT ON public\.orders/m,
    );
    expect(logged[0]?.new_values?.ddl).toContain('ENABLE TRIGGER auditrum_capture_update');

    // A rule is the application's: sync says so loudly and stays out of sync, and the owner drops it.
    await app.query('CREATE RULE keep AS ON DELETE TO orders DO INSTEAD NOTHING');
    const ruleCheck = await cli(['sync', '--check']);
    expect(ruleCheck.code).toBe(3);
    expect(ruleCheck.stdout).toMatch(/^~ public\.orders +rule keep replaces DELETE \(DO INSTEAD\)$/m);
    const ruleSync = await cli(['sync']);
    expect(ruleSync.code).toBe(3);
    expect(ruleSync.stderr).toContain(
      'auditrum: public.orders: its changes are not recorded, and sync cannot repair it: rule keep replaces DELETE (DO INSTEAD)\n',
    );
    expect(ruleSync.stdout).toContain('still out of sync: 1 table(s) that sync cannot repair');
    await app.query('DROP RULE keep ON orders');
    expect(await cli(['sync', '--check'])).toMatchObject({ code: 0 });
  });

  it('reports a parent that is not tracked, which sync cannot repair, and repairs a replaced capture trigger', async () => {
    await appTable('shipments');
    await app.query(`INSERT INTO shipments VALUES (1, 'a')`);
    await app.query('CREATE TABLE shipment_base (id int, name text)');
    await app.query('CREATE TABLE shipment_groups (id int, name text) PARTITION BY RANGE (id)');
    await app.query('CREATE TABLE shipment_all (id int, name text) PARTITION BY RANGE (id)');
    await app.query(
      'ALTER TABLE shipment_all ATTACH PARTITION shipment_groups FOR VALUES FROM (MINVALUE) TO (MAXVALUE)',
    );
    await app.query('ALTER TABLE shipment_groups ATTACH PARTITION shipments FOR VALUES FROM (MINVALUE) TO (MAXVALUE)');
    await app.query(`CREATE FUNCTION skip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`);
    await app.query(`CREATE OR REPLACE TRIGGER auditrum_capture_update AFTER UPDATE ON shipments
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION skip()`);
    await app.query(`UPDATE shipment_all SET name = 'through parent'`);
    expect((await changesOf('shipments')).map((c) => c.operation)).toEqual(['INSERT']);

    // Every ancestor that is not tracked, the partitioned table and the one above it.
    const problems = [
      'trigger auditrum_capture_update is not the capture trigger',
      'writes through parent public.shipment_all are not recorded',
      'writes through parent public.shipment_groups are not recorded',
    ];
    expect((await audit.status()).tables.find((t) => t.table === 'public.shipments')?.problems).toEqual(problems);
    await writeFile(join(dir, 'auditrum.config.json'), JSON.stringify({ tables: { 'public.shipments': {} } }));
    const check = await cli(['sync', '--check']);
    expect(check.code).toBe(3);
    expect(check.stdout).toMatch(/^~ public\.shipments +trigger auditrum_capture_update is not the capture trigger; /m);
    const parents = problems.slice(1).join('; ');
    const repaired = await cli(['sync']);
    expect(repaired.code).toBe(3);
    expect(repaired.stderr).toBe(
      `auditrum: public.shipments: its changes are not recorded, and sync cannot repair it: ${parents}\n`,
    );
    expect((await audit.status()).tables.find((t) => t.table === 'public.shipments')?.problems).toEqual(
      problems.slice(1),
    );
    await app.query(`UPDATE shipments SET name = 'direct'`);
    expect((await changesOf('shipments')).at(-1)?.new_values).toEqual({ name: 'direct' });

    // Detached, and made an inheritance child instead: reported the same way.
    await app.query('ALTER TABLE shipment_groups DETACH PARTITION shipments');
    await app.query('ALTER TABLE shipments INHERIT shipment_base');
    expect((await audit.status()).tables.find((t) => t.table === 'public.shipments')?.problems).toEqual([
      'writes through parent public.shipment_base are not recorded',
    ]);
    await app.query('ALTER TABLE shipments NO INHERIT shipment_base');
    expect(await cli(['sync', '--check'])).toMatchObject({ code: 0 });
  });
});

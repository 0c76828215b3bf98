import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint, SealResult, VerifyResult } from '@auditrum/core';
import {
  createAuditrum,
  doctor,
  ed25519PrivateKey,
  ed25519PublicKey,
  harden,
  keyFingerprint,
  parseCheckpoints,
  purge,
  seal,
  verify,
} from '@auditrum/core';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// The two-role set-up: the application's non-superuser role writes a tracked table; after harden, a non-superuser
// admin role owns the schema and seals and verifies. The superuser pool plays the attacker who can write anything.
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let admin: pg.Pool;
let dir: string;
const keys = generateKeyPairSync('ed25519');
const privatePem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: adminRole.url }, cwd: dir });
}

async function verified(): Promise<VerifyResult> {
  return verify(admin, 'auditrum');
}

/** The problems verify names, as [problem, change id]. */
async function problems(): Promise<[string, string | null][]> {
  return (await verified()).problems.map((p) => [p.problem, p.changeId]);
}

async function changeIds(): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>('SELECT c.id::text AS id FROM auditrum.changes c ORDER BY c.id');
  return rows.map((r) => r.id);
}

/** Deletes a change row, returning it as text that restoreChange() puts back exactly (times to the microsecond). */
async function deleteChange(id: string): Promise<string> {
  const { rows } = await db.pool.query<{ row: string }>(
    'DELETE FROM auditrum.changes c WHERE id = $1 RETURNING row_to_json(c)::text AS row',
    [id],
  );
  return rows[0]?.row as string;
}

async function restoreChange(row: string): Promise<void> {
  await db.pool.query(
    'INSERT INTO auditrum.changes SELECT * FROM json_populate_record(NULL::auditrum.changes, $1::json)',
    [row],
  );
}

async function sealCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM auditrum.seals');
  return rows[0]?.n ?? -1;
}

beforeAll(async () => {
  dir = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'chain-'));
  app = role.openPool({ max: 3 });
  admin = adminRole.openPool({ max: 2 });
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text, note jsonb)');
  await db.pool.query(`SELECT auditrum.track('orders')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
  await app.query(`INSERT INTO orders VALUES (1, 'new', '{"a": 1}'), (2, 'new', NULL), (3, 'new', '[1, 2]')`);
  await app.query(`UPDATE orders SET status = 'paid' WHERE id = 1`);
  await app.query('DELETE FROM orders WHERE id = 3');
});

afterAll(async () => {
  await Promise.all([app, admin].map((pool) => pool.end()));
});

describe('seal and verify', () => {
  it('seals every row of ended transactions in one link each, and an untouched chain verifies', async () => {
    const sealed = await seal(admin, 'auditrum');
    expect(sealed.rows).toBe(5);
    expect(sealed.lastSeq).toBe('5');
    expect(sealed.lastHash).toMatch(/^[0-9a-f]{64}$/);
    const { rows } = await db.pool.query<{ change_id: string }>(
      'SELECT change_id::text FROM auditrum.chain ORDER BY seq',
    );
    expect(rows.map((r) => r.change_id)).toEqual(await changeIds());
    // Each link has a salt of its own (format 2): 16 bytes drawn for it alone.
    const salts = await db.pool.query<{ links: number; salts: number; sizes: number[] }>(
      `SELECT count(*)::int AS links, count(DISTINCT salt)::int AS salts, array_agg(DISTINCT length(salt)) AS sizes
       FROM auditrum.chain WHERE format = 2`,
    );
    expect(salts.rows).toEqual([{ links: 5, salts: 5, sizes: [16] }]);
    expect(await verified()).toMatchObject({ ok: true, links: '5', unsealed: 0, problems: [] });
    // A second seal with nothing new adds nothing and keeps the end.
    expect(await seal(admin, 'auditrum')).toMatchObject({ rows: 0, lastSeq: '5', lastHash: sealed.lastHash });
  });

  it('an Auditrum instance seals and verifies on its pool', async () => {
    const audit = createAuditrum({ pool: admin, partitions: false });
    try {
      await app.query(`INSERT INTO orders VALUES (4, 'new', NULL)`);
      expect(await audit.seal()).toMatchObject({ rows: 1, lastSeq: '6' });
      expect(await audit.verify()).toMatchObject({ ok: true, links: '6' });
    } finally {
      await audit.close();
    }
  });

  it('the application role cannot write the chain or the seals, nor seal', async () => {
    for (const sql of [
      `INSERT INTO auditrum.chain VALUES (99, 1, now(), '\\x00', '\\x00')`,
      'UPDATE auditrum.chain SET change_id = 1',
      'DELETE FROM auditrum.chain',
      'TRUNCATE auditrum.chain',
      'DELETE FROM auditrum.seals',
      'SELECT * FROM auditrum.seal()',
    ]) {
      await expect(app.query(sql), sql).rejects.toMatchObject({ code: '42501' });
    }
    // It may read and check them.
    expect((await verify(app, 'auditrum')).ok).toBe(true);
  });

  it('refuses the owner changing a link or a seal (append-only)', async () => {
    await expect(admin.query('UPDATE auditrum.chain SET change_id = change_id')).rejects.toThrow(
      'auditrum.chain is append-only (UPDATE refused)',
    );
    await expect(admin.query('DELETE FROM auditrum.seals')).rejects.toThrow('append-only (DELETE refused)');
    await expect(admin.query('TRUNCATE auditrum.chain')).rejects.toThrow('append-only (TRUNCATE refused)');
  });

  it('covers every stored column: changing any one of them is named', async () => {
    const { rows: columns } = await db.pool.query<{ name: string; type: string }>(
      `SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
       WHERE attrelid = 'auditrum.changes'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    );
    expect(columns.length).toBe(11);
    const changed: Record<string, string> = {
      bigint: '%I + 1000',
      integer: '%I + 1',
      text: "coalesce(%I, '') || 'x'",
      jsonb: `coalesce(%I, '{}') || '{"x": 1}'`,
      'timestamp with time zone': "%I + interval '1 microsecond'",
    };
    const [id] = await changeIds();
    for (const column of columns) {
      const expression = changed[column.type];
      expect(expression, column.type).toBeDefined();
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        const set = (expression as string).replaceAll('%I', pg.escapeIdentifier(column.name));
        await client.query(`UPDATE auditrum.changes SET ${pg.escapeIdentifier(column.name)} = ${set} WHERE id = $1`, [
          id,
        ]);
        const found = (await verify(client, 'auditrum')).problems.map((p) => [p.problem, p.changeId]);
        // A changed id leaves the link without its row and the row without a link.
        expect(found, column.name).toEqual(
          column.name === 'id'
            ? [
                ['deleted', id],
                ['inserted', String(Number(id) + 1000)],
              ]
            : [['changed', id]],
        );
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    }
  });

  it('names a row changed by UPDATE, and nothing once it is put back', async () => {
    const [, id] = await changeIds();
    const { rows } = await db.pool.query<{ new_values: unknown }>(
      'SELECT new_values FROM auditrum.changes WHERE id = $1',
      [id],
    );
    await db.pool.query(`UPDATE auditrum.changes SET new_values = '{"status": "forged"}' WHERE id = $1`, [id]);
    expect(await problems()).toEqual([['changed', id]]);
    const result = await cli(['verify']);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain(`row ${id}, sealed at link 2, was changed`);
    expect(result.stdout).toContain('the chain is BROKEN');
    await db.pool.query('UPDATE auditrum.changes SET new_values = $2 WHERE id = $1', [id, rows[0]?.new_values]);
    expect(await problems()).toEqual([]);
  });

  it('names an interior row deleted', async () => {
    const id = (await changeIds())[2] as string;
    const row = await deleteChange(id);
    try {
      expect(await problems()).toEqual([['deleted', id]]);
    } finally {
      await restoreChange(row);
    }
    expect(await problems()).toEqual([]);
  });

  it('names a row inserted among sealed ones (a forged past write)', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO auditrum.changes (txid, table_id, operation, row_key, new_values)
       SELECT min(txid), min(table_id), 'INSERT', '9', '{"id": 9}' FROM auditrum.changes RETURNING id::text`,
    );
    const id = rows[0]?.id as string;
    try {
      expect(await problems()).toEqual([['inserted', id]]);
    } finally {
      await db.pool.query('DELETE FROM auditrum.changes WHERE id = $1', [id]);
    }
  });

  it('names rows reordered (two rows swapping ids), each with the link it came from', async () => {
    const [, , , a, b] = await changeIds();
    const swap = `UPDATE auditrum.changes SET id = CASE id WHEN $1 THEN $2 ELSE $1 END WHERE id IN ($1, $2)`;
    await db.pool.query(swap, [a, b]);
    try {
      const result = await verified();
      expect(result.problems.map((p) => [p.problem, p.changeId])).toEqual([
        ['reordered', a],
        ['reordered', b],
      ]);
      expect(result.problems[0]?.detail).toBe(`row ${a}, sealed at link 4, now holds what link 5 sealed (row ${b})`);
    } finally {
      await db.pool.query(swap, [a, b]);
    }
    expect(await problems()).toEqual([]);
  });

  it('names links deleted or rewritten in the chain itself', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE auditrum.chain DISABLE TRIGGER chain_append_only');
      await client.query(`UPDATE auditrum.chain SET hash = sha256(hash) WHERE seq = 2`);
      await client.query('DELETE FROM auditrum.chain WHERE seq = 4');
      const found = (await verify(client, 'auditrum')).problems.map((p) => [p.problem, p.seq]);
      // Link 3 no longer follows link 2's hash; 4 is missing (its row now unsealed: inserted).
      expect(found).toEqual([
        ['altered link', '2'],
        ['altered link', '3'],
        ['missing links', '5'],
        ['inserted', null],
      ]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('verifies under any session time zone and date style what was sealed under another', async () => {
    await app.query(`UPDATE orders SET status = 'shipped' WHERE id = 2`);
    const client = await admin.connect();
    try {
      await client.query(`SET TIME ZONE 'Asia/Tokyo'; SET DateStyle = 'SQL, DMY'`);
      expect((await seal(client, 'auditrum')).rows).toBe(1);
      expect((await verify(client, 'auditrum')).ok).toBe(true);
      for (const zone of ['UTC', 'America/Los_Angeles', 'Australia/Lord_Howe']) {
        await client.query(`SET TIME ZONE '${zone}'; SET DateStyle = 'ISO, MDY'`);
        expect(await verify(client, 'auditrum'), zone).toMatchObject({ ok: true, problems: [] });
      }
    } finally {
      await client.query('RESET TIME ZONE; RESET DateStyle');
      client.release();
    }
  });
});

describe('seal takes only rows whose transactions can no longer commit behind them', () => {
  it('leaves an open transaction and every later row out until it ends, then seals them all', async () => {
    const early = await app.connect();
    let first: SealResult;
    try {
      // Began (and has its transaction id) before the later writes, commits after them. The later write does not
      // wait for it: no chain lock (the original's per-table lock held to commit would block it here).
      await early.query('BEGIN');
      await early.query(`INSERT INTO orders VALUES (10, 'early', NULL)`);
      await app.query(`INSERT INTO orders VALUES (11, 'later', NULL)`);
      first = await seal(admin, 'auditrum');
      expect(first.rows).toBe(0);
      expect((await verified()).unsealed).toBe(1);
      // Seals run while it stays open take nothing either, however many.
      await app.query(`INSERT INTO orders VALUES (13, 'later still', NULL)`);
      expect((await seal(admin, 'auditrum')).rows).toBe(0);
      await early.query(`INSERT INTO orders VALUES (12, 'early again', NULL)`);
      expect((await seal(admin, 'auditrum')).rows).toBe(0);
      expect((await verified()).unsealed).toBe(2);
      await early.query('COMMIT');
    } finally {
      early.release();
    }
    const second = await seal(admin, 'auditrum');
    expect(second.rows).toBe(4);
    const { rows } = await db.pool.query<{ id: string }>(
      `SELECT c.new_values->>'id' AS id FROM auditrum.chain l JOIN auditrum.changes c ON c.id = l.change_id
       WHERE l.seq > $1 ORDER BY l.seq`,
      [first.lastSeq],
    );
    expect(rows.map((r) => r.id)).toEqual(['10', '11', '13', '12']);
    expect(await verified()).toMatchObject({ ok: true, unsealed: 0 });
  });

  it('seals the rows of a transaction open across a seal when the last to take its id, after it ends', async () => {
    // The open transaction's id is the newest: no later one has ended, so the seal's snapshot's xmax is that very id
    // (xmax is the newest ended id plus one), and its row's id was drawn before the seal read the sequence. A seal
    // that recorded that xmax as the first id of transactions that began after it skipped the row for good.
    const open = await app.connect();
    try {
      await open.query('BEGIN');
      await open.query(`INSERT INTO orders VALUES (22, 'open across a seal', NULL)`);
      expect((await seal(admin, 'auditrum')).rows).toBe(0);
      await open.query('COMMIT');
    } finally {
      open.release();
    }
    expect((await seal(admin, 'auditrum')).rows).toBe(1);
    expect(await verified()).toMatchObject({ ok: true, unsealed: 0, problems: [] });
  });

  it('seals every row written by concurrent writers while seals run back to back', async () => {
    const writers = role.openPool({ max: 6 });
    try {
      let writing = true;
      const sealer = (async () => {
        let seals = 0;
        while (writing || seals === 0) {
          await seal(admin, 'auditrum');
          seals++;
        }
        return seals;
      })();
      await Promise.all(
        Array.from({ length: 6 }, async (_, writer) => {
          for (let i = 0; i < 40; i++) {
            await writers.query(`INSERT INTO orders VALUES ($1, 'concurrent', NULL)`, [1000 + writer * 100 + i]);
          }
        }),
      );
      writing = false;
      expect(await sealer).toBeGreaterThan(0);
    } finally {
      await writers.end();
    }
    await seal(admin, 'auditrum');
    expect(await verified()).toMatchObject({ ok: true, unsealed: 0, problems: [] });
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM auditrum.changes c JOIN auditrum.chain l ON l.change_id = c.id
       WHERE c.new_values->>'status' = 'concurrent'`,
    );
    expect(rows).toEqual([{ n: 240 }]);
  });

  it('a rolled-back transaction leaves nothing to seal and no gap reported', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO orders VALUES (20, 'gone', NULL)`);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await app.query(`INSERT INTO orders VALUES (21, 'kept', NULL)`);
    expect((await seal(admin, 'auditrum')).rows).toBe(1);
    expect(await verified()).toMatchObject({ ok: true, unsealed: 0 });
  });

  it('refuses to run in a snapshot fixed for the transaction', async () => {
    const client = await admin.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await expect(client.query('SELECT * FROM auditrum.seal()')).rejects.toThrow(
        'seal() must run in READ COMMITTED, not repeatable read',
      );
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});

describe('purge', () => {
  it('leaves the chain verifiable: rows it removed are purged, not deleted', async () => {
    await db.pool.query(
      `INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key) VALUES (now() - interval '20 months', 1, 'INSERT', 'old')`,
    );
    expect((await seal(admin, 'auditrum')).rows).toBe(1);
    const purged = await purge(admin, 'auditrum', { olderThan: '13 months', logs: ['changes'] });
    expect(purged.logs[0]?.rows).toBe(1);
    expect(await verified()).toMatchObject({ ok: true, problems: [] });
    // A row newer than the purge's cut-off is still one that must be there.
    const id = (await changeIds())[0] as string;
    const row = await deleteChange(id);
    try {
      expect(await problems()).toEqual([['deleted', id]]);
    } finally {
      await restoreChange(row);
    }
  });
});

describe('signed checkpoints', () => {
  it('seal --sign-key appends a signed checkpoint that verify checks', async () => {
    await writeFile(join(dir, 'seal.pem'), privatePem);
    await writeFile(join(dir, 'seal.pub'), publicPem);
    await app.query(`INSERT INTO orders VALUES (30, 'new', NULL)`);
    const sealed = await cli(['seal', '--sign-key', 'seal.pem', '--checkpoints', 'checkpoints.jsonl']);
    expect(sealed).toMatchObject({ code: 0, stderr: '' });
    expect(sealed.stdout).toContain('sealed 1 row(s)');
    const lines = parseCheckpoints(await readFile(join(dir, 'checkpoints.jsonl'), 'utf8'), 'checkpoints.jsonl');
    const { rows } = await db.pool.query<{ seq: string; hash: string }>(
      `SELECT l.seq::text, encode(l.hash, 'hex') AS hash FROM auditrum.chain l ORDER BY l.seq DESC LIMIT 1`,
    );
    expect(lines).toEqual([expect.objectContaining({ seq: rows[0]?.seq, hash: rows[0]?.hash })]);
    const result = await cli(['verify', '--checkpoints', 'checkpoints.jsonl', '--public-key', 'seal.pub', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, checkpoints: { checked: 1, problems: [] } });
    // Without --checkpoints, the line goes to stdout.
    const printed = await cli(['seal', '--sign-key', 'seal.pem']);
    expect(parseCheckpoints(printed.stdout.split('\n')[1] as string, 'stdout')).toHaveLength(1);
  });

  it('names a checkpoint whose signature does not hold (edited after signing) among good ones', async () => {
    const [good] = parseCheckpoints(await readFile(join(dir, 'checkpoints.jsonl'), 'utf8'), 'file');
    const edited = { ...(good as Checkpoint), hash: 'f'.repeat(64) };
    const result = await verify(admin, 'auditrum', {
      checkpoints: [good as Checkpoint, edited],
      publicKey: ed25519PublicKey(publicPem, 'key'),
    });
    expect(result.ok).toBe(false);
    expect(result.checkpoints).toEqual({
      checked: 1,
      problems: [{ seq: good?.seq, detail: `checkpoint ${good?.seq} of ${good?.time}: its signature does not hold` }],
    });
    await expect(verify(admin, 'auditrum', { checkpoints: [good as Checkpoint] })).rejects.toThrow(
      'give the public key that checks the checkpoints',
    );
  });

  it('finds a chain cut short at its end only with a checkpoint', async () => {
    const [checkpoint] = parseCheckpoints(await readFile(join(dir, 'checkpoints.jsonl'), 'utf8'), 'file');
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE auditrum.chain DISABLE TRIGGER chain_append_only');
      await client.query('ALTER TABLE auditrum.seals DISABLE TRIGGER seals_append_only');
      // The last link and its row go, and the seals are made to agree: nothing inside says the chain was longer.
      await client.query(
        `DELETE FROM auditrum.changes WHERE id = (SELECT change_id FROM auditrum.chain ORDER BY seq DESC LIMIT 1)`,
      );
      await client.query('DELETE FROM auditrum.chain WHERE seq = (SELECT max(seq) FROM auditrum.chain)');
      await client.query(
        `UPDATE auditrum.seals SET last_seq = last_seq - 1, rows = rows - 1 WHERE id = (SELECT max(id) FROM auditrum.seals)`,
      );
      expect((await verify(client, 'auditrum')).ok).toBe(true);
      const result = await verify(client, 'auditrum', {
        checkpoints: [checkpoint as never],
        publicKey: ed25519PublicKey(publicPem, 'key'),
      });
      expect(result.ok).toBe(false);
      expect(result.checkpoints.problems).toEqual([
        {
          seq: checkpoint?.seq,
          detail: `the chain ends at link ${Number(checkpoint?.seq) - 1}, before checkpoint ${checkpoint?.seq}: its last links are gone`,
        },
      ]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('finds a chain rewritten consistently (every hash recomputed) with a checkpoint', async () => {
    const [checkpoint] = parseCheckpoints(await readFile(join(dir, 'checkpoints.jsonl'), 'utf8'), 'file');
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE auditrum.chain DISABLE TRIGGER chain_append_only');
      await client.query(
        `UPDATE auditrum.changes SET new_values = '{"status": "forged"}' WHERE id = (SELECT min(id) FROM auditrum.changes)`,
      );
      // Recompute every digest and hash, as someone who knows the algorithm would.
      await client.query(
        `UPDATE auditrum.chain l SET digest = auditrum._chain_salted_digest(l.salt, c.id, c.changed_at, c.txid,
           c.table_id, c.operation, c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id, c.context)
         FROM auditrum.changes c WHERE c.id = l.change_id`,
      );
      await client.query(
        `UPDATE auditrum.chain l SET hash = r.hash FROM (
           SELECT seq, auditrum._chain_running_hash(NULL::bytea, seq, digest) OVER (ORDER BY seq) AS hash FROM auditrum.chain) r
         WHERE r.seq = l.seq`,
      );
      expect((await verify(client, 'auditrum')).problems).toEqual([]);
      const result = await verify(client, 'auditrum', {
        checkpoints: [checkpoint as never],
        publicKey: ed25519PublicKey(publicPem, 'key'),
      });
      expect(result.checkpoints.problems.map((p) => p.detail)).toEqual([
        `link ${checkpoint?.seq}'s hash is not the checkpoint's: the chain was rewritten up to it`,
      ]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});

describe('auditrum doctor', () => {
  it("reports the last seal's age and the rows waiting, a problem once older than --seal-max-age", async () => {
    await seal(admin, 'auditrum');
    await app.query(`INSERT INTO orders VALUES (50, 'waiting', NULL)`);
    const chainCheck = async (maxSealAgeHours?: number) =>
      (await doctor(admin, 'auditrum', maxSealAgeHours === undefined ? {} : { maxSealAgeHours })).checks.find(
        (c) => c.check === 'chain',
      );
    expect(await chainCheck()).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^last sealed \S+ \(0\.0 h ago\), \d+ link\(s\), 1 row\(s\) not sealed yet$/),
    });
    // The last seal made to look two days old (a superuser's edit past the append-only trigger, rolled back).
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('ALTER TABLE auditrum.seals DISABLE TRIGGER seals_append_only');
      await client.query(`UPDATE auditrum.seals SET sealed_at = sealed_at - interval '2 days'`);
      const report = await doctor(client, 'auditrum', { maxSealAgeHours: 24 });
      expect(report.ok).toBe(false);
      expect(report.checks.find((c) => c.check === 'chain')).toMatchObject({
        status: 'problem',
        detail: expect.stringMatching(/\(48\.0 h ago\).*: older than 24 h$/),
      });
      expect((await doctor(client, 'auditrum', { maxSealAgeHours: 72 })).ok).toBe(true);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it.each(['0', '1.5', 'day', '8761'])('refuses --seal-max-age %s', async (value) => {
    const result = await cli(['doctor', '--seal-max-age', value]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected a whole number of hours from 1 to 8760');
  });

  it.each([0, 1.5, Number.NaN])('the API refuses maxSealAgeHours %s', async (maxSealAgeHours) => {
    await expect(doctor(admin, 'auditrum', { maxSealAgeHours })).rejects.toThrow(
      "the seal's maximum age must be a whole number of hours from 1 to 8760",
    );
  });
});

describe('bad input gives a clear error and changes nothing', () => {
  it.each([
    ['a key file that is not a key', ['seal', '--sign-key', 'junk.txt'], 'junk.txt is not a PEM private key'],
    ['an RSA key', ['seal', '--sign-key', 'rsa.pem'], 'rsa.pem is an rsa key, not Ed25519'],
    ['a key file that does not exist', ['seal', '--sign-key', 'none.pem'], '--sign-key: cannot read none.pem'],
    ['checkpoints without a key', ['seal', '--checkpoints', 'c.jsonl'], '--checkpoints needs --sign-key'],
    [
      'a checkpoints file that is not ours',
      ['verify', '--checkpoints', 'junk.txt', '--public-key', 'seal.pub'],
      'line 1 of junk.txt is not an Auditrum checkpoint',
    ],
    [
      'a public key that does not match',
      ['verify', '--checkpoints', 'checkpoints.jsonl', '--public-key', 'other.pub'],
      'no checkpoint is signed by this public key',
    ],
    [
      'a private key where the public key goes, of another type',
      ['verify', '--checkpoints', 'checkpoints.jsonl', '--public-key', 'rsa.pem'],
      'rsa.pem is an rsa key, not Ed25519',
    ],
    [
      'checkpoints without a public key',
      ['verify', '--checkpoints', 'checkpoints.jsonl'],
      'give --checkpoints and --public-key together',
    ],
  ])('%s', async (_what, args, message) => {
    await writeFile(join(dir, 'junk.txt'), '{"seq": 1}\nhello\n');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await writeFile(join(dir, 'rsa.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const other = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'other.pub'), other.publicKey.export({ type: 'spki', format: 'pem' }));
    const seals = await sealCount();
    await app.query(`INSERT INTO orders VALUES (40 + $1::int, 'pending', NULL) ON CONFLICT DO NOTHING`, [seals]);
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await sealCount()).toBe(seals);
  });

  it('the TypeScript API checks its keys too', () => {
    expect(() => ed25519PrivateKey(publicPem, 'public.pem')).toThrow('public.pem is not a PEM private key');
    expect(() => parseCheckpoints('', 'empty.jsonl')).toThrow('empty.jsonl holds no checkpoints');
  });
});

// After the checkpoint tests: these seal rows past the checkpoints those tests cut the chain short of.
describe('what seal and verify record', () => {
  it("records in seals the fingerprint of the key that signed a seal's checkpoint, and none for a seal unsigned", async () => {
    const fingerprint = createHash('sha256')
      .update(keys.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex');
    expect(keyFingerprint(ed25519PrivateKey(privatePem, 'key'))).toBe(fingerprint);
    await app.query(`INSERT INTO orders VALUES (31, 'new', NULL)`);
    const signed = await seal(admin, 'auditrum', { signingKey: ed25519PrivateKey(privatePem, 'key') });
    await app.query(`INSERT INTO orders VALUES (32, 'new', NULL)`);
    const unsigned = await seal(admin, 'auditrum');
    const { rows } = await db.pool.query<{ id: string; checkpoint_key: string | null }>(
      'SELECT id::text, checkpoint_key FROM auditrum.seals WHERE id = ANY ($1::bigint[]) ORDER BY id',
      [[signed.sealId, unsigned.sealId]],
    );
    expect(rows).toEqual([
      { id: signed.sealId, checkpoint_key: fingerprint },
      { id: unsigned.sealId, checkpoint_key: null },
    ]);
    await expect(db.pool.query(`SELECT * FROM auditrum.seal('not a fingerprint')`)).rejects.toThrow(
      "checkpoint_key must be a SHA-256 fingerprint in lower-case hex, not 'not a fingerprint'",
    );
  });

  it('verify records each run in verifications: what it checked and found; a role that may not insert still verifies', async () => {
    const [checkpoint] = parseCheckpoints(await readFile(join(dir, 'checkpoints.jsonl'), 'utf8'), 'file');
    const checked = await verify(admin, 'auditrum', {
      checkpoints: [checkpoint as Checkpoint],
      publicKey: ed25519PublicKey(publicPem, 'key'),
    });
    const plain = await verify(admin, 'auditrum');
    const { rows } = await db.pool.query(
      `SELECT id::text, verified_by, links::text, problems::int, erased::int, checkpoints, checkpoint_failures,
         newest_checkpoint_at FROM auditrum.verifications WHERE id = ANY ($1::bigint[]) ORDER BY id`,
      [[checked.verificationId, plain.verificationId]],
    );
    expect(rows).toEqual([
      {
        id: checked.verificationId,
        verified_by: adminRole.name,
        links: checked.links,
        problems: 0,
        erased: 0,
        checkpoints: 1,
        checkpoint_failures: 0,
        newest_checkpoint_at: new Date(checkpoint?.time as string),
      },
      {
        id: plain.verificationId,
        verified_by: adminRole.name,
        links: plain.links,
        problems: 0,
        erased: 0,
        checkpoints: null,
        checkpoint_failures: null,
        newest_checkpoint_at: null,
      },
    ]);
    // A break is recorded as such.
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `UPDATE auditrum.changes SET request_id = 'x' WHERE id = (SELECT min(id) FROM auditrum.changes)`,
      );
      const broken = await verify(client, 'auditrum');
      const recorded = await client.query('SELECT problems::int FROM auditrum.verifications WHERE id = $1', [
        broken.verificationId,
      ]);
      expect(recorded.rows).toEqual([{ problems: 1 }]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    // The application role reads the runs but records none of its own.
    const count = async () => (await app.query('SELECT count(*)::int AS n FROM auditrum.verifications')).rows[0].n;
    const before = await count();
    expect(await verify(app, 'auditrum')).toMatchObject({ ok: true, verificationId: null });
    expect(await count()).toBe(before);
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import { defineEntity, MikroORM, p } from '@mikro-orm/postgresql';
import { PrismaPg } from '@prisma/adapter-pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, serial, text } from 'drizzle-orm/pg-core';
import knex from 'knex';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { DataTypes, Sequelize } from 'sequelize';
import { DataSource, EntitySchema } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from './prisma/generated/client.ts';

/*
 * Context through each client users run, as a non-superuser application role that owns its table, on one
 * connection (pools of 1): a change made inside withAuditContext carries the actor, and the next write on the same
 * connection, outside any scope, does not. The scoped write is returned from the callback, not awaited, where
 * the client is a lazy builder (Drizzle, Knex, Prisma): the context must still reach it.
 */
const db = useTestDatabase();
const app = useAppRole(db);

interface Logged {
  note: string;
  actor_id: string | null;
  request_id: string | null;
  source: string | null;
}

async function logOf(client: string): Promise<Logged[]> {
  const { rows } = await db.pool.query<Logged>(
    `SELECT new_values ->> 'note' AS note, actor_id, request_id, context ->> 'source' AS source
     FROM auditrum.change_log WHERE table_name = 'matrix_items' AND new_values ->> 'client' = $1 ORDER BY id`,
    [client],
  );
  return rows;
}

/**
 * One client's case: `insert` writes a row (client, note) and returns what the client returns, unawaited. Then eight
 * scopes write at once, queued behind each other on the client's one connection by the client's own pool (Knex's
 * tarn, Sequelize's, pg-promise's copy of pg-pool, …): each row names its own scope's actor.
 */
async function expectContextThrough(client: string, insert: (note: string) => PromiseLike<unknown>): Promise<void> {
  await withAuditContext({ actor: { id: `${client}-user` }, requestId: `${client}-request` }, () => insert('in scope'));
  await insert('after the scope');
  expect(await logOf(client)).toEqual([
    { note: 'in scope', actor_id: `${client}-user`, request_id: `${client}-request`, source: 'app' },
    { note: 'after the scope', actor_id: null, request_id: null, source: 'db' },
  ]);
  const lanes = Array.from({ length: 8 }, (_, i) => i);
  await Promise.all(
    lanes.map((i) => withAuditContext({ actor: { id: `${client}-lane-${i}` } }, () => insert(`lane ${i}`))),
  );
  const written = (await logOf(client)).filter((row) => row.note.startsWith('lane '));
  expect(written.map((row) => [row.note, row.actor_id]).sort()).toEqual(
    lanes.map((i) => [`lane ${i}`, `${client}-lane-${i}`]),
  );
}

// Each client is closed by its test's afterAll, before the role and the database are dropped.
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  await Promise.all(closers.map((close) => close()));
});

beforeAll(async () => {
  const owner = app.openPool({ max: 1 });
  await owner.query('CREATE TABLE matrix_items (id serial PRIMARY KEY, client text NOT NULL, note text NOT NULL)');
  // Instruments every copy of pg loaded so far and those loaded later (pg-promise's, imported below).
  await createAuditrum({ pool: db.pool, partitions: false }).track('matrix_items');
});

const INSERT = 'INSERT INTO matrix_items (client, note) VALUES ($1, $2)';

describe('context through each client', () => {
  it('pg Pool', async () => {
    const pool = app.openPool({ max: 1 });
    await expectContextThrough('pg Pool', (note) => pool.query(INSERT, ['pg Pool', note]));
  });

  it('pg Client', async () => {
    const client = new pg.Client({ connectionString: app.url });
    client.on('error', () => undefined);
    closers.push(() => client.end());
    await client.connect();
    await expectContextThrough('pg Client', (note) => client.query(INSERT, ['pg Client', note]));
  });

  it('Drizzle (a lazy builder)', async () => {
    const items = pgTable('matrix_items', {
      id: serial('id').primaryKey(),
      client: text('client'),
      note: text('note'),
    });
    const orm = drizzle(app.openPool({ max: 1 }));
    await expectContextThrough('drizzle', (note) => orm.insert(items).values({ client: 'drizzle', note }));
  });

  it('Kysely', async () => {
    const kysely = new Kysely<{ matrix_items: { client: string; note: string } }>({
      dialect: new PostgresDialect({ pool: app.openPool({ max: 1 }) }),
    });
    await expectContextThrough('kysely', (note) =>
      kysely.insertInto('matrix_items').values({ client: 'kysely', note }).execute(),
    );
  });

  it('Knex (a lazy builder)', async () => {
    const builder = knex({ client: 'pg', connection: app.url, pool: { min: 0, max: 1 } });
    closers.push(() => builder.destroy());
    await expectContextThrough('knex', (note) => builder('matrix_items').insert({ client: 'knex', note }));
  });

  it('TypeORM', async () => {
    const Item = new EntitySchema<{ id: number; client: string; note: string }>({
      name: 'MatrixItem',
      tableName: 'matrix_items',
      columns: {
        id: { type: Number, primary: true, generated: true },
        client: { type: String },
        note: { type: String },
      },
    });
    const source = new DataSource({ type: 'postgres', url: app.url, entities: [Item], poolSize: 1 });
    await source.initialize();
    closers.push(() => source.destroy());
    await expectContextThrough('typeorm', (note) => source.getRepository(Item).insert({ client: 'typeorm', note }));
  });

  it('Prisma with @prisma/adapter-pg (a lazy PrismaPromise)', async () => {
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: app.url, max: 1 }) });
    closers.push(() => prisma.$disconnect());
    await expectContextThrough('prisma', (note) => prisma.matrixItem.create({ data: { client: 'prisma', note } }));
  });

  it('Sequelize', async () => {
    const sequelize = new Sequelize(app.url, { dialectModule: pg, logging: false, pool: { max: 1, min: 0 } });
    closers.push(() => sequelize.close());
    const Item = sequelize.define(
      'MatrixItem',
      { client: DataTypes.TEXT, note: DataTypes.TEXT },
      { tableName: 'matrix_items', timestamps: false },
    );
    await expectContextThrough('sequelize', (note) => Item.create({ client: 'sequelize', note }));
  });

  it('MikroORM', async () => {
    const Item = defineEntity({
      name: 'MatrixItem',
      tableName: 'matrix_items',
      properties: { id: p.integer().primary().autoincrement(), client: p.text(), note: p.text() },
    });
    const orm = await MikroORM.init({ clientUrl: app.url, entities: [Item], pool: { min: 0, max: 1 } });
    closers.push(() => orm.close());
    await expectContextThrough('mikro-orm', (note) => orm.em.fork().insert(Item, { client: 'mikro-orm', note }));
  });

  it("pg-promise, on the copy of pg it pins (loaded after Auditrum's instrumentation)", async () => {
    const { default: pgPromise } = await import('pg-promise');
    const pgp = pgPromise();
    // The case this covers: a copy of pg that the application never sees.
    expect(pgp.pg).not.toBe(pg);
    const database = pgp({ connectionString: app.url, max: 1 });
    closers.push(async () => pgp.end());
    await expectContextThrough('pg-promise', (note) => database.none(INSERT, ['pg-promise', note]));
  });
});

describe('the Prisma client of this matrix', () => {
  it('is what `prisma generate` makes of its schema, with no engine download', async () => {
    const schemaDir = join(import.meta.dirname, 'prisma');
    const scratch = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'prisma-client-'));
    try {
      await writeFile(join(scratch, 'schema.prisma'), await readFile(join(schemaDir, 'schema.prisma')));
      // `generate` runs no engine (the schema is read by WebAssembly), but the CLI wants to find the schema
      // engine first and would download it: any existing file stands for it.
      await promisify(execFile)(
        join(import.meta.dirname, '../../node_modules/.bin/prisma'),
        ['generate', '--schema', 'schema.prisma'],
        {
          cwd: scratch,
          env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
        },
      );
      expect(await filesOf(join(scratch, 'generated'))).toEqual(await filesOf(join(schemaDir, 'generated')));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});

async function filesOf(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(dir, path)] = await readFile(path, 'utf8');
  }
  return files;
}

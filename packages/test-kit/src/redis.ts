import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './find-executable.js';
import { freePort } from './free-port.js';
import { waitForPort } from './wait-for-port.js';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The redis-server executable, or undefined when the machine has none (install the Debian package `redis-server`). */
export async function findRedisServer(): Promise<string | undefined> {
  return findExecutable(['redis-server', '/usr/bin/redis-server']);
}

/**
 * Starts a Redis of its own on a free port of 127.0.0.1: in memory only (no snapshot, no append-only file), its
 * working directory a scratch directory removed on stop().
 */
export async function startRedisServer(binary?: string): Promise<RedisServer> {
  const executable = binary ?? (await findRedisServer());
  if (!executable) throw new Error('redis-server is not installed (Debian: apt-get install redis-server)');
  const dir = await mkdtemp(join(tmpdir(), 'auditrum-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn(executable, args, { stdio: 'ignore' });
  try {
    await waitForPort(port, child);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`redis-server did not start: ${String(error)}`);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
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

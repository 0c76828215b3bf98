import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { startCluster, withClient } from '../src/index.js';

// Debian's PostgreSQL packages; PG_BINDIR points elsewhere. Without binaries there is nothing to test.
const debianRoot = '/usr/lib/postgresql';
const binDir =
  process.env.PG_BINDIR ??
  (existsSync(debianRoot) ? readdirSync(debianRoot).map((version) => join(debianRoot, version, 'bin'))[0] : undefined);

test.skipIf(!binDir || !existsSync(join(binDir, 'initdb')))(
  'startCluster() runs a throwaway cluster from given binaries and removes it on stop',
  async () => {
    const cluster = await startCluster({ binDir: binDir as string });
    try {
      const version = await withClient(cluster.adminUrl, async (client) => {
        const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
        return rows[0]?.server_version;
      });
      expect(version).toMatch(/^\d+/);
      expect(existsSync(cluster.dir)).toBe(true);
    } finally {
      await cluster.stop();
    }
    expect(existsSync(cluster.dir)).toBe(false);
  },
);

test.skipIf(!binDir || !existsSync(join(binDir, 'initdb')))(
  'stopServer() stops the cluster and keeps its data for postgres --single; stop() then removes it',
  async () => {
    const cluster = await startCluster({ binDir: binDir as string });
    try {
      await cluster.stopServer();
      await expect(withClient(cluster.adminUrl, (client) => client.query('SELECT 1'))).rejects.toThrow();
      expect(existsSync(join(cluster.dataDir, 'PG_VERSION'))).toBe(true);
      await cluster.stopServer();
    } finally {
      await cluster.stop();
    }
    expect(existsSync(cluster.dir)).toBe(false);
  },
);

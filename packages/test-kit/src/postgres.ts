/**
 * @module @auditrum/test-kit/postgres: PostgreSQL servers for code that runs outside Vitest (the e2e sample apps,
 * the demo, benchmarks). The package's main entry loads Vitest (its batteries and hooks); this one does not.
 */
export type { Cluster, ClusterOptions } from './cluster.js';
export { startCluster } from './cluster.js';
export { databaseUrl, withClient } from './databases.js';
export { ignoreIdleErrors } from './idle-errors.js';
export type { PostgresServer } from './postgres-server.js';
export { embeddedPostgresBinDir, startEmbeddedPostgres } from './sources/embedded-postgres.js';

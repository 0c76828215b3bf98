export type { AdapterUnderTest, ContractApp, ContractAppOptions } from './adapter-contract/index.js';
export { runAdapterContract } from './adapter-contract/index.js';
export type { Cluster, ClusterOptions } from './cluster.js';
export { startCluster } from './cluster.js';
export { withClient } from './databases.js';
export type { GlobalSetupOptions } from './global-setup.js';
export { createGlobalSetup } from './global-setup.js';
export type { TestDatabase } from './test-database.js';
export { useEmptyDatabase, useTestDatabase } from './test-database.js';

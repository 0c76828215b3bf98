export type { AdapterUnderTest, ContractApp, ContractAppOptions } from './contract-app.js';
export { presetRequestId } from './contract-app.js';
export { runAdapterContract } from './run-adapter-contract.js';

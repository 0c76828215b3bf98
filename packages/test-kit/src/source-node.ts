import { fileURLToPath } from 'node:url';

/**
 * The arguments that make a child Node process run the workspace's TypeScript sources, as the tests do (Node's type
 * stripping, the packages' `@auditrum/source` export condition, and the root's resolve hook that maps `./x.js`
 * imports to `./x.ts`): `spawn(process.execPath, [...SOURCE_NODE_ARGS, script])`.
 */
export const SOURCE_NODE_ARGS: readonly string[] = [
  '--experimental-transform-types',
  '--no-warnings',
  '--conditions=@auditrum/source',
  '--import',
  fileURLToPath(new URL('../../../test/source-hooks.ts', import.meta.url)),
];

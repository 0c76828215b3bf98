import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the built admin (index.html and assets/), for the adapters to serve. The bundle is
 * built by `pnpm --filter @auditrum/admin-ui build` (the published package ships it prebuilt).
 */
export const adminUiDir = fileURLToPath(new URL('./dist/', import.meta.url));

import { runWithoutModule } from '../without-module.js';

/**
 * What an adapter does without prom-client (an optional peer dependency, hidden from a child process rather than
 * removed from node_modules): whether the adapter still loads, and the error `auditMetrics()` throws when mounted
 * (null if it mounts). `packageDir` is the adapter's directory, from which `adapterPackage` resolves.
 */
export async function mountAuditMetricsWithoutPromClient(
  adapterPackage: string,
  packageDir: string,
): Promise<{ loaded: boolean; refusal: string | null }> {
  const script = `
    import * as adapter from ${JSON.stringify(adapterPackage)};
    let refusal = null;
    try {
      adapter.auditMetrics();
    } catch (error) {
      refusal = error.message;
    }
    console.log(JSON.stringify({ loaded: typeof adapter.auditAdmin === 'function', refusal }));`;
  return JSON.parse(await runWithoutModule('prom-client', script, packageDir));
}

/**
 * Lets Node run the sample apps and the demo straight from the workspace's TypeScript source (with
 * --experimental-transform-types and --conditions=@auditrum/source), by registering two resolve hooks.
 */
import { registerHooks } from 'node:module';

const ADAPTER_PACKAGES = ['../../packages/express/package.json', '../../packages/koa/package.json'].map(
  (path) => new URL(path, import.meta.url).href,
);

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      // The workspace's source imports its siblings NodeNext-style as `./x.js`; Node's type stripping does
      // not map those to `./x.ts`.
      if (specifier.startsWith('.') && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      // The frameworks and pg are devDependencies of the adapter packages, not of e2e: the sample apps
      // borrow them from there (the same copies the adapters are tested with).
      if (!specifier.startsWith('.') && !specifier.startsWith('node:') && context.parentURL?.includes('/e2e/')) {
        for (const parentURL of ADAPTER_PACKAGES) {
          try {
            return nextResolve(specifier, { ...context, parentURL });
          } catch {}
        }
      }
      throw error;
    }
  },
});

/**
 * Lets Node run the sample apps and the demo straight from the workspace's TypeScript source (with
 * --experimental-transform-types and --conditions=@auditrum/source), by registering a resolve hook.
 */
import { registerHooks } from 'node:module';

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
      throw error;
    }
  },
});

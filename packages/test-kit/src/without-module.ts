import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SOURCE_NODE_ARGS } from './source-node.js';

const run = promisify(execFile);

/**
 * Runs `script` (an ES module's source) in a child Node process, from the workspace's TypeScript sources, in which the
 * package `hidden` cannot be loaded, by `import` or by `require`, as if it were not installed: how an optional peer
 * dependency's absence is tried without touching node_modules. `cwd` is where the script's imports resolve from (a
 * package's directory). Resolves with what the script printed; rejects with its stderr if it fails.
 */
export async function runWithoutModule(hidden: string, script: string, cwd: string): Promise<string> {
  // A resolve hook registered with registerHooks() also applies to require() (unlike the asynchronous loader hooks).
  const hideModule = `
    import { registerHooks } from 'node:module';
    const hidden = ${JSON.stringify(hidden)};
    registerHooks({
      resolve(specifier, context, nextResolve) {
        if (specifier === hidden || specifier.startsWith(hidden + '/')) {
          throw Object.assign(new Error("Cannot find module '" + specifier + "' (hidden by the test)"), {
            code: 'MODULE_NOT_FOUND',
          });
        }
        return nextResolve(specifier, context);
      },
    });`;
  const { stdout } = await run(
    process.execPath,
    [
      ...SOURCE_NODE_ARGS,
      '--import',
      `data:text/javascript,${encodeURIComponent(hideModule)}`,
      '--input-type=module',
      '--eval',
      script,
    ],
    { cwd, env: { ...process.env, NODE_OPTIONS: '' } },
  ).catch((error: Error & { stderr?: string }) => {
    throw new Error(`the script failed without ${hidden}: ${error.stderr ?? error.message}`);
  });
  return stdout;
}

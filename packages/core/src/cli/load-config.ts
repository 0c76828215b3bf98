import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AuditrumConfig } from '../tracking/config.js';
import { validateConfig } from '../tracking/config.js';
import { errorMessage } from './database.js';

/** Looked for in this order in the working directory when `--config` is not given. */
export const DEFAULT_CONFIG_FILES = [
  'auditrum.config.ts',
  'auditrum.config.mjs',
  'auditrum.config.js',
  'auditrum.config.json',
] as const;

let loads = 0;

/**
 * Reads and checks a config file: JSON is parsed, anything else imported (TypeScript through Node's type
 * stripping, Node 22.18 and later) and its default export used.
 */
export async function loadConfig(cwd: string, file?: string): Promise<{ path: string; config: AuditrumConfig }> {
  const path = file === undefined ? await findConfig(cwd) : resolve(cwd, file);
  let loaded: unknown;
  try {
    if (extname(path) === '.json') {
      loaded = JSON.parse(await readFile(path, 'utf8'));
    } else {
      // A query that changes per load, so that a config edited in a long-lived process is read again.
      const module = (await import(`${pathToFileURL(path).href}?load=${++loads}`)) as { default?: unknown };
      if (!('default' in module)) throw new Error('it has no default export');
      loaded = module.default;
    }
  } catch (error) {
    throw new Error(`cannot load config ${path}: ${errorMessage(error)}`);
  }
  return { path, config: validateConfig(loaded, `config ${path}`) };
}

async function findConfig(cwd: string): Promise<string> {
  for (const name of DEFAULT_CONFIG_FILES) {
    const path = resolve(cwd, name);
    if (
      await stat(path).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return path;
  }
  throw new Error(`no config file: pass --config or create ${DEFAULT_CONFIG_FILES.join(', ')} in ${cwd}`);
}

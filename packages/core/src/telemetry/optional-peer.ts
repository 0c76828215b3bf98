import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * An optional peer dependency if the host has it installed, else undefined (nothing loaded). Loaded with require:
 * @opentelemetry/api and prom-client keep their state on globals shared with the host's own `import` of them.
 */
export function optionalPeer<T>(name: string): T | undefined {
  try {
    return require(name) as T;
  } catch {
    return undefined;
  }
}

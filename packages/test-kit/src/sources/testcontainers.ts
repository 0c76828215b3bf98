import type { PostgresServer } from '../postgres-server.js';

const PROBE_TIMEOUT_MS = 1000;
const IMAGE = 'postgres:17';

/**
 * Starts PostgreSQL in a container if a container engine answers; otherwise resolves to
 * undefined. Without an engine the probe rejects within milliseconds (after about 0.6 s for
 * importing testcontainers); the timeout guards against a DOCKER_HOST that never answers.
 */
export async function startTestcontainer(): Promise<PostgresServer | undefined> {
  if (!(await containerEngineAnswers())) return undefined;
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer(IMAGE).start();
  return {
    description: `testcontainers (${IMAGE})`,
    adminUrl: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}

async function containerEngineAnswers(): Promise<boolean> {
  let getContainerRuntimeClient: typeof import('testcontainers').getContainerRuntimeClient;
  try {
    ({ getContainerRuntimeClient } = await import('testcontainers'));
  } catch {
    // On Node 20, importing testcontainers crashes inside undici: treat it as "no engine".
    return false;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
  });
  const probe = getContainerRuntimeClient().then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

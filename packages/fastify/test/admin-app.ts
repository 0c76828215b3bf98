import type { AdminAdapterUnderTest, AdminAppOptions } from '@auditrum/test-kit';
import type Fastify from 'fastify';
import type { FastifyRequest } from 'fastify';
import { auditAdmin } from '../src/index.js';
import { listenerOf } from './listener.js';

type FastifyFactory = typeof Fastify;
type WithUser = FastifyRequest & { user?: { name: string } };

/** The admin battery's app (see packages/test-kit/src/admin-contract.ts) for a Fastify major. */
export function fastifyAdminAdapter(name: string, factory: FastifyFactory): AdminAdapterUnderTest {
  return {
    name,
    mount: (options) => auditAdmin(options as Parameters<typeof auditAdmin>[0]),
    createApp: (options) => createApp(factory, options),
  };
}

function createApp(factory: FastifyFactory, options: AdminAppOptions) {
  const { pool, mountPath, assetsDir, publicPath, writable, bodyParser } = options;
  const app = factory();
  app.addHook('onRequest', (request: WithUser, _reply, done) => {
    const name = request.headers['x-test-user'];
    if (typeof name === 'string') request.user = { name };
    done();
  });
  // The app's own JSON parser (Fastify parses JSON by default; this one stands for a replaced one): the admin,
  // encapsulated, reads its bodies itself either way.
  if (bodyParser) {
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      done(null, JSON.parse(body as string));
    });
  }
  app.register(
    auditAdmin({
      pool,
      assetsDir,
      ...(publicPath === undefined ? {} : { publicPath }),
      ...(writable
        ? {
            authorizeWrite: (request: WithUser) => request.user?.name === 'writer',
            actor: (request: WithUser) => ({ id: `admin-${request.user?.name}`, label: request.user?.name as string }),
          }
        : {}),
      authorize: (request: WithUser) =>
        request.user === undefined
          ? 'unauthenticated'
          : request.user.name === 'staff' || request.user.name === 'writer',
      scope: (request) => {
        const table = request.headers['x-test-scope'];
        return typeof table === 'string' ? { tables: [table] } : undefined;
      },
    }),
    { prefix: mountPath },
  );
  app.get('/outside', async (_request, reply) => {
    reply.type('text/plain');
    return 'outside';
  });
  return listenerOf(app, app.ready());
}

import type { AdminAdapterUnderTest, AdminAppOptions } from '@auditrum/test-kit';
import type express from 'express';
import type { Request } from 'express';
import { auditAdmin } from '../src/index.js';

type ExpressFactory = typeof express;
type WithUser = Request & { user?: { name: string } };

/** The admin battery's app (see packages/test-kit/src/admin-contract.ts) for an Express major. */
export function expressAdminAdapter(name: string, factory: ExpressFactory): AdminAdapterUnderTest {
  return {
    name,
    mount: (options) => auditAdmin(options as Parameters<typeof auditAdmin>[0]),
    createApp: (options) => createApp(factory, options),
  };
}

function createApp(factory: ExpressFactory, options: AdminAppOptions) {
  const { pool, mountPath, assetsDir, publicPath, writable, bodyParser } = options;
  const app = factory();
  app.use((req: WithUser, _res, next) => {
    const name = req.headers['x-test-user'];
    if (typeof name === 'string') req.user = { name };
    next();
  });
  if (bodyParser) app.use(factory.json());
  app.use(
    mountPath,
    auditAdmin({
      pool,
      assetsDir,
      ...(publicPath === undefined ? {} : { publicPath }),
      ...(writable
        ? {
            authorizeWrite: (req: WithUser) => req.user?.name === 'writer',
            actor: (req: WithUser) => ({ id: `admin-${req.user?.name}`, label: req.user?.name as string }),
          }
        : {}),
      authorize: (req: WithUser) =>
        req.user === undefined ? 'unauthenticated' : req.user.name === 'staff' || req.user.name === 'writer',
      scope: (req) => {
        const table = req.headers['x-test-scope'];
        return typeof table === 'string' ? { tables: [table] } : undefined;
      },
    }),
  );
  app.get('/outside', (_req, res) => {
    res.type('text').send('outside');
  });
  return app;
}

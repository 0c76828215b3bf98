import type { AdminAdapterUnderTest, AdminAppOptions } from '@auditrum/test-kit';
import type Koa from 'koa';
import { auditAdmin } from '../src/index.js';

/** The admin battery's app (see packages/test-kit/src/admin-contract.ts) for a Koa major. */
export function koaAdminAdapter(name: string, KoaClass: typeof Koa): AdminAdapterUnderTest {
  return {
    name,
    mount: (options) => auditAdmin(options as Parameters<typeof auditAdmin>[0]),
    createApp: (options) => createApp(KoaClass, options),
  };
}

function createApp(KoaClass: typeof Koa, { pool, mountPath, assetsDir, publicPath }: AdminAppOptions) {
  const app = new KoaClass();
  app.silent = true;
  app.use(async (ctx, next) => {
    const name = ctx.get('x-test-user');
    if (name) ctx.state.user = { name };
    await next();
  });
  app.use(
    auditAdmin({
      pool,
      basePath: mountPath,
      assetsDir,
      ...(publicPath === undefined ? {} : { publicPath }),
      authorize: (ctx) => {
        const user = ctx.state.user as { name: string } | undefined;
        return user === undefined ? 'unauthenticated' : user.name === 'staff';
      },
      scope: (ctx) => {
        const table = ctx.get('x-test-scope');
        return table ? { tables: [table] } : undefined;
      },
    }),
  );
  app.use(async (ctx, next) => {
    if (ctx.path !== '/outside') return next();
    ctx.type = 'text';
    ctx.body = 'outside';
  });
  return app.callback();
}

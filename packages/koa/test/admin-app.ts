import type { AdminAdapterUnderTest, AdminAppOptions } from '@auditrum/test-kit';
import { bodyParser } from '@koa/bodyparser';
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

function createApp(KoaClass: typeof Koa, options: AdminAppOptions) {
  const { pool, mountPath, assetsDir, publicPath, writable, bodyParser: parse } = options;
  const app = new KoaClass();
  app.silent = true;
  app.use(async (ctx, next) => {
    const name = ctx.get('x-test-user');
    if (name) ctx.state.user = { name };
    await next();
  });
  if (parse) app.use(bodyParser({ enableTypes: ['json', 'form'] }));
  const userName = (ctx: Koa.Context) => (ctx.state.user as { name: string } | undefined)?.name;
  app.use(
    auditAdmin({
      pool,
      basePath: mountPath,
      assetsDir,
      ...(publicPath === undefined ? {} : { publicPath }),
      ...(writable
        ? {
            authorizeWrite: (ctx: Koa.Context) => userName(ctx) === 'writer',
            actor: (ctx: Koa.Context) => ({ id: `admin-${userName(ctx)}`, label: userName(ctx) as string }),
          }
        : {}),
      authorize: (ctx) => {
        const name = userName(ctx);
        return name === undefined ? 'unauthenticated' : name === 'staff' || name === 'writer';
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

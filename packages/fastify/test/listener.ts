import type { RequestListener } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * The app as a plain request listener, for the batteries' own http.Server: Fastify's routing once the app is
 * ready (its routes and hooks are loaded then).
 */
export function listenerOf(app: FastifyInstance, ready: PromiseLike<unknown>): RequestListener {
  let loaded = false;
  ready.then(() => {
    loaded = true;
  });
  return (req, res) => {
    if (loaded) app.routing(req, res);
    else ready.then(() => app.routing(req, res));
  };
}

import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';

/**
 * The Fastify versions the plugins work with (setGenReqId, routeOptions.url), as the package's peer dependency says;
 * Fastify refuses the plugin at register on any other. Tested on the latest 4 and 5.
 */
export const FASTIFY_VERSIONS = '>=4.26.0 <6.0.0';

/**
 * A plugin whose hooks apply to the whole app, not only to the routes registered inside it: made with
 * fastify-plugin, so Fastify does not encapsulate it.
 */
export function hooksPlugin(name: string, install: (fastify: FastifyInstance) => void): FastifyPluginCallback {
  return fastifyPlugin(
    (fastify, _options, done) => {
      install(fastify);
      done();
    },
    { fastify: FASTIFY_VERSIONS, name },
  );
}

import type { FastifyInstance, FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';

/** The Fastify majors the plugins are tested on (and declare to Fastify, which refuses others at register). */
export const FASTIFY_VERSIONS = '4.x || 5.x';

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

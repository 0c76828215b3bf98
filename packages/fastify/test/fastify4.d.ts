// Fastify 4, installed under the alias "fastify4" for the batteries; typed as Fastify 5, which covers what the
// test apps use.
declare module 'fastify4' {
  import Fastify from 'fastify';
  export default Fastify;
}

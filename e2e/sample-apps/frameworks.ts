/** The frameworks the sample shop runs on: each is started by the global setup and driven by every spec. */
export const FRAMEWORKS = ['express', 'koa', 'fastify', 'nest', 'nest-fastify'] as const;

export type Framework = (typeof FRAMEWORKS)[number];

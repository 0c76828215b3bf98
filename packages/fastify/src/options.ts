import type { HttpAuditOptions } from '@auditrum/core/http';
import type { FastifyRequest } from 'fastify';

/** Options of every Auditrum plugin for Fastify; each uses the ones that concern it. Hooks get the request. */
export type AuditOptions = HttpAuditOptions<FastifyRequest>;

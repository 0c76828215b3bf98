import type { HttpAuditOptions } from '@auditrum/core/http';
import type { Context } from 'koa';

/** Options of every Auditrum middleware for Koa; each uses the ones that concern it. Hooks get the context. */
export type AuditOptions = HttpAuditOptions<Context>;

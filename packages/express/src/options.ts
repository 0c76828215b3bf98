import type { HttpAuditOptions } from '@auditrum/core/http';
import type { Request } from 'express';

/** Options of every Auditrum middleware for Express; each uses the ones that concern it. */
export type AuditOptions = HttpAuditOptions<Request>;

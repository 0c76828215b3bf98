import type { ApiRequestRecord } from '../src/request-log/api-request-record.js';

/** An API-log row with nothing but its request id, method and path set (and what `overrides` gives). */
export function apiRequestRecord(requestId: string, overrides: Partial<ApiRequestRecord> = {}): ApiRequestRecord {
  return {
    requestedAt: new Date(),
    requestId,
    method: 'GET',
    path: '/',
    route: null,
    query: null,
    status: 200,
    durationMs: 1,
    aborted: false,
    actorId: null,
    actorLabel: null,
    ip: null,
    userAgent: null,
    requestHeaders: null,
    responseHeaders: null,
    requestBody: null,
    responseBody: null,
    error: null,
    ...overrides,
  };
}

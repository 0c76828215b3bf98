import type { ApiRequestDetail, Change, HistoryResponse } from '@auditrum/core/admin';

/** Change rows shaped as the API returns them for a small shop. */
export function updateChange(overrides: Partial<Change> = {}): Change {
  return {
    id: '41',
    changedAt: '2026-11-26T10:15:00.000Z',
    txid: '7781',
    schema: 'public',
    table: 'orders',
    operation: 'UPDATE',
    rowKey: '7',
    oldValues: { status: 'draft', total: '10.00', meta: { gift: false, note: 'leave at door' } },
    newValues: { status: 'paid', total: '12.50', meta: { gift: true, note: 'leave at door' } },
    changedColumns: ['status', 'total', 'meta'],
    actor: { id: '2', label: 'bob@shop.test' },
    requestId: '019ac0de-0000-7000-8000-00000000b0b1',
    reason: 'customer called',
    source: 'http',
    context: { source: 'http', method: 'PATCH', route: '/orders/:id', path: '/orders/7', ip: '127.0.0.1' },
    claimed: null,
    oversized: null,
    erased: null,
    ...overrides,
  };
}

export function insertChange(overrides: Partial<Change> = {}): Change {
  return {
    ...updateChange(),
    id: '40',
    changedAt: '2026-11-26T10:10:00.000Z',
    operation: 'INSERT',
    oldValues: null,
    newValues: { id: 7, customer_id: 3, status: 'draft', total: '10.00', meta: { gift: false, note: 'leave at door' } },
    changedColumns: null,
    reason: null,
    ...overrides,
  };
}

export function directWriteChange(overrides: Partial<Change> = {}): Change {
  return {
    ...updateChange(),
    id: '42',
    changedAt: '2026-11-26T10:20:00.000Z',
    oldValues: { status: 'paid' },
    newValues: { status: 'refunded' },
    changedColumns: ['status'],
    actor: null,
    requestId: null,
    reason: null,
    source: 'db',
    context: { source: 'db', db_user: 'postgres', application_name: 'psql' },
    ...overrides,
  };
}

export function requestDetail(overrides: Partial<ApiRequestDetail> = {}): ApiRequestDetail {
  return {
    id: '900',
    requestId: '019ac0de-0000-7000-8000-00000000b0b1',
    requestedAt: '2026-11-26T10:14:59.950Z',
    method: 'PATCH',
    path: '/orders/7',
    route: '/orders/:id',
    status: 200,
    durationMs: 12.4,
    aborted: false,
    actor: { id: '2', label: 'bob@shop.test' },
    ip: '127.0.0.1',
    changeCount: 1,
    query: null,
    userAgent: 'curl/8.5.0',
    requestHeaders: { 'content-type': 'application/json', 'content-length': '17', authorization: '[masked]' },
    responseHeaders: { 'content-type': 'application/json; charset=utf-8' },
    requestBody: { status: 'paid', card: { token: '[masked]' } },
    responseBody: { id: 7, status: 'paid' },
    error: null,
    ...overrides,
  };
}

type Reply = { status: number; body: unknown };
type Route = ((url: URL, body: unknown) => Reply | Promise<Reply>) | object;

/** An api/history answer: these versions (none by default) on one page, no state asked for. */
export function historyResponse(versions: HistoryResponse['versions'] = []): HistoryResponse {
  return {
    versions,
    firstNumber: 1,
    nextCursor: null,
    newer: null,
    stateAt: null,
    stateAtOversized: [],
    stateAtErased: [],
  };
}

/**
 * Replaces window.fetch with canned JSON responses by exact path (the API itself is tested against PostgreSQL
 * in core); a function route sees the URL and a POST's parsed body, and picks the status. Records every URL asked
 * for, and every POST with its body.
 */
export function stubFetch(routes: Record<string, Route>) {
  const calls: string[] = [];
  const posts: { path: string; body: unknown }[] = [];
  const original = window.fetch;
  window.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), window.location.href);
    calls.push(url.pathname + url.search);
    const body = init?.method === 'POST' ? JSON.parse(String(init.body)) : undefined;
    if (init?.method === 'POST') posts.push({ path: url.pathname, body });
    const route = routes[url.pathname];
    const reply: Reply =
      route === undefined
        ? { status: 404, body: { error: { code: 'not_found', message: `Nothing at ${url.pathname}.` } } }
        : typeof route === 'function'
          ? await (route as (url: URL, body: unknown) => Reply | Promise<Reply>)(url, body)
          : { status: 200, body: route };
    return new Response(JSON.stringify(reply.body), {
      status: reply.status,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return {
    calls,
    posts,
    restore: () => {
      window.fetch = original;
    },
  };
}

import type { AdminResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import type pg from 'pg';

/** A GET of a new admin mount on `pool`; throws on any status but 200. */
async function adminGet(pool: pg.Pool, path: string, query: Record<string, string>): Promise<AdminResponse> {
  const admin = createAdminRoutes({ pool, authorize: () => true });
  const response = await admin({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  });
  if (response.status !== 200) throw new Error(`${response.status}: ${String(response.body)}`);
  return response;
}

/** The JSON a read route of a new admin mount on `pool` answers with; throws on any status but 200. */
export async function adminRead<T>(pool: pg.Pool, path: string, query: Record<string, string>): Promise<T> {
  return JSON.parse(String((await adminGet(pool, path, query)).body)) as T;
}

/** The text of a streamed download (`api/changes/export`, …) of a new admin mount on `pool`; throws on any status but 200. */
export async function adminDownload(pool: pg.Pool, path: string, query: Record<string, string>): Promise<string> {
  let text = '';
  for await (const chunk of (await adminGet(pool, path, query)).body as AsyncIterable<string>) text += chunk;
  return text;
}

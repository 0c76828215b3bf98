import { createAdminRoutes } from '@auditrum/core/admin';
import type pg from 'pg';

/** The JSON a read route of a new admin mount on `pool` answers with; throws on any status but 200. */
export async function adminRead<T>(pool: pg.Pool, path: string, query: Record<string, string>): Promise<T> {
  const admin = createAdminRoutes({ pool, authorize: () => true });
  const response = await admin({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  });
  if (response.status !== 200) throw new Error(String(response.body));
  return JSON.parse(String(response.body)) as T;
}

/** The text of a streamed download (`api/changes/export`, …) of a new admin mount on `pool`; throws on any status but 200. */
export async function adminDownload(pool: pg.Pool, path: string, query: Record<string, string>): Promise<string> {
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
  let text = '';
  for await (const chunk of response.body as AsyncIterable<string>) text += chunk;
  return text;
}

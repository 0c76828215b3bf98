import { expect } from '@playwright/test';
import { USER_HEADER } from '../sample-apps/shop.ts';

/** One call to the sample shop's JSON API as a user (extra headers such as a change reason); fails the test on an error status. */
export async function shopApi(
  base: string,
  userId: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { [USER_HEADER]: userId, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  expect(response.status, `${method} ${path}: ${text}`).toBeLessThan(300);
  return JSON.parse(text) as Record<string, unknown> & { id: number };
}

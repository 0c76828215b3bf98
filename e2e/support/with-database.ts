import pg from 'pg';

/** Reads the shop's database directly (its URL from the global setup): one client for `work`, then closed. */
export async function withDatabase<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {
    // The servers stop after the tests; an idle connection's end is expected then.
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

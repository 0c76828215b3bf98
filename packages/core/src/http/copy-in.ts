import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** Runs `sql` (a `COPY … FROM STDIN` in text format) with `data` as its input, on a client of the pool. */
export async function copyIn(pool: pg.Pool, sql: string, data: Buffer): Promise<void> {
  const client = await pool.connect();
  try {
    await pipeline(Readable.from([data]), client.query(copyFrom(sql)));
    client.release();
  } catch (error) {
    // The server refused the data (the connection is fine), or the connection broke (it is not reused).
    client.release(error instanceof pg.DatabaseError ? undefined : (error as Error));
    throw error;
  }
}

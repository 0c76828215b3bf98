import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { checkOut, ignoreConnectionError } from '../db/queryable.js';
import { connectionSurvives } from './write-failure.js';

/** Runs `sql` (a `COPY … FROM STDIN` in text format) with `data` as its input, on a client of the pool. */
export async function copyIn(pool: pg.Pool, sql: string, data: Buffer): Promise<void> {
  // A connection that breaks during the COPY (the server stopped, an EPIPE) must not end the app with an 'error'
  // event (see checkOut); the COPY's own failure below reports it.
  const client = await checkOut(pool);
  try {
    await pipeline(Readable.from([data]), client.query(copyFrom(sql)));
    client.release();
  } catch (error) {
    // The server refused the data on a live connection (reused), or the connection broke or is closing (not reused).
    client.release(connectionSurvives(error) ? undefined : (error as Error));
    throw error;
  } finally {
    client.off('error', ignoreConnectionError);
  }
}

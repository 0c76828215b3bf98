import pg from 'pg';

/** The part of pg's connection a COPY FROM STDIN writes to. */
interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/**
 * A `COPY … FROM STDIN` statement that sends its data as soon as the server asks for it. pg's own Query answers the
 * server's CopyInResponse with a refusal; this one sends the data instead, which is what pg-copy-streams does,
 * without a stream, since the whole batch is in memory already.
 */
class CopyFromText extends pg.Query {
  readonly #data: Buffer;

  constructor(sql: string, data: string, callback: (error: Error | undefined) => void) {
    super(sql, callback);
    this.#data = Buffer.from(data, 'utf8');
  }

  handleCopyInResponse(connection: CopyConnection): void {
    connection.sendCopyFromChunk(this.#data);
    connection.endCopyFrom();
  }
}

/** Runs `sql` (a `COPY … FROM STDIN` in text format) with `data` as its input, on a client of the pool. */
export async function copyIn(pool: pg.Pool, sql: string, data: string): Promise<void> {
  const client = await pool.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      client.query(new CopyFromText(sql, data, (error) => (error ? reject(error) : resolve())));
    });
    client.release();
  } catch (error) {
    // The server refused the data (the connection is fine), or the connection broke (it is not reused).
    client.release(error instanceof pg.DatabaseError ? undefined : (error as Error));
    throw error;
  }
}

import pg from 'pg';

/** What of node-postgres' Connection sends a cancel request (pg's own Client.cancel drives it so; untyped). */
interface CancelConnection {
  on(event: 'connect' | 'error', listener: () => void): void;
  connect(portOrPath: number | string, host?: string): void;
  cancel(processID: number, secretKey: number): void;
}

/** What of node-postgres' Client a cancel request needs: where its server is and its backend's key (pg-native's has none). */
interface CancellableClient {
  host?: unknown;
  port?: unknown;
  processID?: unknown;
  secretKey?: unknown;
}

/**
 * Asks the server to cancel the statement `client` is running, as psql's Ctrl-C does: a CancelRequest with the
 * backend's key, on a connection of its own (no login, no pool slot), answered by the server closing it. The
 * statement fails with `query_canceled` (57014) on `client`'s connection; with none running, nothing happens. For a
 * reader that went away while the server still computes the rows it will never read (a whole table's rebuild reads
 * the table's log before its first row): left alone it would hold the connection until the first rows come.
 * Best effort: a connection that fails (a proxy that does not pass cancel requests on) is ignored, and a client that
 * does not say where its server is or its backend's key (pg-native) is left alone.
 */
export function cancelStatement(client: pg.ClientBase): void {
  const { host, port, processID, secretKey } = client as unknown as CancellableClient;
  if (typeof host !== 'string' || typeof processID !== 'number' || typeof secretKey !== 'number') return;
  const connection = new pg.Connection() as unknown as CancelConnection;
  connection.on('error', () => undefined);
  connection.on('connect', () => connection.cancel(processID, secretKey));
  if (host.startsWith('/')) connection.connect(`${host}/.s.PGSQL.${String(port)}`);
  else connection.connect(Number(port), host);
}

import pg from 'pg';

/**
 * A named statement whose audit context travels as the transaction-local setting `auditrum.context` instead of a
 * comment, so that its text, and with it the plan PostgreSQL keeps under its name, stays the same. One round trip,
 * one Sync: the setting is set, the statement runs, and inside a transaction block the setting is put back, so the
 * context can reach no other statement: not the next transaction's (the setting is transaction-local), not a later
 * statement of the same transaction (it is put back), not another caller's on a pooled connection. Outside a block
 * the extended protocol's implicit transaction ends at the Sync and takes the setting with it, so it is not put back:
 * the deferred triggers that run at that Sync's commit still read it (their writes are the statement's), and the
 * round trip is one statement shorter.
 */

/** The part of node-postgres' Connection this query drives (the extended-protocol messages). */
interface Connection {
  parsedStatements: Record<string, string>;
  submittedNamedStatements?: Record<string, string>;
  parse(query: { name: string; text: string }): void;
  bind(config: { statement: string; values: unknown[] }): void;
  execute(config: { portal: string }): void;
  close(config: { type: 'S'; name: string }): void;
  sync(): void;
}

/** What node-postgres' Query does that this one builds on (internal to pg 8, stable since pg 7). */
interface QueryInternals {
  name?: string;
  text?: string;
  prepare(connection: Connection): void;
  hasBeenParsed(connection: Connection): boolean;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: Connection): void;
  handleError(error: Error, connection: Connection): void;
  handleReadyForQuery(connection: Connection): void;
}
const BaseQuery = pg.Query as unknown as new (config: pg.QueryConfig) => QueryInternals & pg.Query;

/**
 * Prepared once per connection. `enter` keeps the setting's outer value (a session-level context, such as the one
 * `auditrum exec` gives a script) and sets the statement's; `leave` puts the outer value back. Schema-qualified, so
 * that no function on the search path can stand in for them.
 */
const ENTER = {
  name: 'auditrum_context_enter',
  text: "SELECT pg_catalog.set_config('auditrum.outer_context', COALESCE(pg_catalog.current_setting('auditrum.context', true), ''), true), pg_catalog.set_config('auditrum.context', $1, true)",
};
const LEAVE = {
  name: 'auditrum_context_leave',
  text: "SELECT pg_catalog.set_config('auditrum.context', pg_catalog.current_setting('auditrum.outer_context'), true)",
};

/** What of node-postgres' Client tells whether a statement sent now runs in a transaction block. */
export interface TransactionStatusSource {
  /** 'I' outside a block, as of the last ReadyForQuery (pg 8.21 and later; an older copy has none). */
  getTransactionStatus?(): unknown;
  /** A pipelining client sends before the previous statement's ReadyForQuery: its status may be stale. */
  pipeline?: unknown;
}

/** Which statement of the round trip the server's replies belong to. */
type Phase = 'enter' | 'statement' | 'leave' | 'done';

export class SettingContextQuery extends BaseQuery {
  readonly #context: string;
  #phase: Phase = 'enter';
  /** Set once the caller has the error: what the server still sends for this round trip reaches nobody. */
  #failed = false;
  /** The client that sends this query, once known: without one, the setting is always put back. */
  #client: TransactionStatusSource | undefined;

  /** `context` is the JSON object the comment would carry. */
  constructor(config: pg.QueryConfig, context: string) {
    super(config);
    this.#context = context;
  }

  /** Names the client that sends this query (its status is read when it is sent, after the previous answer). */
  sentBy(client: TransactionStatusSource): void {
    this.#client = client;
  }

  /** Outside a transaction block, by an up-to-date status: the Sync ends the statement's implicit transaction. */
  #endsWithItsTransaction(): boolean {
    const client = this.#client;
    return client !== undefined && client.pipeline !== true && client.getTransactionStatus?.() === 'I';
  }

  override prepare(connection: Connection): void {
    // This class is core's pg's Query; the connection may be another copy's (pg-promise pins its own), and older pg
    // versions kept no record of statements sent but not yet parsed, which core's Query writes to.
    connection.submittedNamedStatements ??= {};
    prepareOnce(connection, ENTER);
    connection.bind({ statement: ENTER.name, values: [this.#context] });
    connection.execute({ portal: '' });
    // A statement of this name left on the server by a round trip that failed is closed first (closing a statement
    // that does not exist is no error), so that its Parse cannot fail.
    if (!this.hasBeenParsed(connection)) connection.close({ type: 'S', name: this.name as string });
    if (this.#endsWithItsTransaction()) {
      super.prepare(connection);
      return;
    }
    // pg's prepare() sends Parse, Bind, Describe, Execute and Sync, or Close and Sync when binding the values
    // fails: `leave` goes before every Sync, so the setting is put back whatever happened before it.
    const leaving = Object.create(connection, {
      sync: {
        value: () => {
          prepareOnce(connection, LEAVE);
          connection.bind({ statement: LEAVE.name, values: [] });
          connection.execute({ portal: '' });
          connection.sync();
        },
      },
    }) as Connection;
    super.prepare(leaving);
  }

  // `enter` and `leave` return a row and a completion each (no row description: they are not described); only the
  // statement's reach the result.
  override handleDataRow(message: unknown): void {
    if (this.#phase === 'statement' && !this.#failed) super.handleDataRow(message);
  }

  override handleCommandComplete(message: unknown, connection: Connection): void {
    if (this.#failed) return;
    switch (this.#phase) {
      case 'enter':
        connection.parsedStatements[ENTER.name] = ENTER.text;
        this.#phase = 'statement';
        return;
      case 'statement':
        super.handleCommandComplete(message, connection);
        this.#phase = 'leave';
        return;
      case 'leave':
        connection.parsedStatements[LEAVE.name] = LEAVE.text;
        this.#phase = 'done';
        return;
      case 'done':
        return;
    }
  }

  override handleError(error: Error, connection: Connection): void {
    // Whether the statement is still prepared on the server is not known here: pg marks its name as parsed at the
    // first ParseComplete of the round trip (perhaps `enter`'s), and closes it when its values cannot be sent. It is
    // parsed again next time, after a Close.
    delete connection.parsedStatements[this.name as string];
    this.#failed = true;
    super.handleError(error, connection);
  }

  // Values that cannot be sent fail the query before the server answers (pg reports it at once, then closes the
  // statement it may just have parsed): the round trip's answers, ParseComplete included, came after that report,
  // so the name is forgotten again here, and the Sync's answer must not report a success.
  override handleReadyForQuery(connection: Connection): void {
    if (this.#failed) {
      delete connection.parsedStatements[this.name as string];
      return;
    }
    super.handleReadyForQuery(connection);
  }
}

function prepareOnce(connection: Connection, statement: { name: string; text: string }): void {
  if (connection.parsedStatements[statement.name] === statement.text) return;
  connection.close({ type: 'S', name: statement.name });
  connection.parse(statement);
}

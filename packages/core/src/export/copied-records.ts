import type { ChangeOperation } from '../changes/change-row.js';
import type { ChangeExportRecord, RequestExportRecord } from './export-record.js';

/**
 * The JSON columns of a record read from the database, kept as PostgreSQL's JSON text and parsed only when read:
 * an NDJSON line copies the text as it is, which halves the exporter's work per row (a JSON.parse and a
 * JSON.stringify of every value). A value once read (or set) is written from the value, so that a consumer may change
 * it in place before it is formatted.
 */
class JsonColumns {
  readonly #text: (string | null)[];
  readonly #values: unknown[];
  readonly #read: boolean[];

  constructor(text: (string | null)[]) {
    this.#text = text;
    this.#values = new Array(text.length);
    this.#read = new Array(text.length).fill(false);
  }

  get(index: number): unknown {
    if (!this.#read[index]) {
      const text = this.#text[index];
      this.#values[index] = text === null || text === undefined ? null : JSON.parse(text);
      this.#read[index] = true;
    }
    return this.#values[index];
  }

  set(index: number, value: unknown): void {
    this.#values[index] = value;
    this.#read[index] = true;
  }

  /** The column as JSON text: PostgreSQL's while it was never read, else the value's. */
  json(index: number): string {
    if (this.#read[index]) return JSON.stringify(this.#values[index]) ?? 'null';
    return this.#text[index] ?? 'null';
  }
}

const quoted = (value: string | null) => (value === null ? 'null' : JSON.stringify(value));

/** A change row read by an export step (see JsonColumns). */
export class CopiedChange implements ChangeExportRecord {
  readonly log = 'changes' as const;
  readonly #json: JsonColumns;

  constructor(
    public position: string,
    public id: string,
    public time: string,
    public txid: string,
    public schema: string | null,
    public table: string | null,
    public table_id: number,
    public operation: ChangeOperation,
    public row_key: string | null,
    json: [oldValues: string | null, newValues: string | null, context: string | null],
    public actor_id: string | null,
    public request_id: string | null,
  ) {
    this.#json = new JsonColumns(json);
  }

  get old_values(): Record<string, unknown> | null {
    return this.#json.get(0) as Record<string, unknown> | null;
  }
  set old_values(value: Record<string, unknown> | null) {
    this.#json.set(0, value);
  }
  get new_values(): Record<string, unknown> | null {
    return this.#json.get(1) as Record<string, unknown> | null;
  }
  set new_values(value: Record<string, unknown> | null) {
    this.#json.set(1, value);
  }
  get context(): Record<string, unknown> | null {
    return this.#json.get(2) as Record<string, unknown> | null;
  }
  set context(value: Record<string, unknown> | null) {
    this.#json.set(2, value);
  }

  /** The record as a plain object, in the documented key order (what JSON.stringify writes). */
  toJSON(): ChangeExportRecord {
    return {
      position: this.position,
      log: this.log,
      id: this.id,
      time: this.time,
      txid: this.txid,
      schema: this.schema,
      table: this.table,
      table_id: this.table_id,
      operation: this.operation,
      row_key: this.row_key,
      old_values: this.old_values,
      new_values: this.new_values,
      actor_id: this.actor_id,
      request_id: this.request_id,
      context: this.context,
    };
  }

  /** The same as JSON.stringify(this), built from the JSON text. */
  jsonLine(): string {
    return `{"position":${quoted(this.position)},"log":"changes","id":${quoted(this.id)},"time":${quoted(this.time)},"txid":${quoted(this.txid)},"schema":${quoted(this.schema)},"table":${quoted(this.table)},"table_id":${this.table_id},"operation":${quoted(this.operation)},"row_key":${quoted(this.row_key)},"old_values":${this.#json.json(0)},"new_values":${this.#json.json(1)},"actor_id":${quoted(this.actor_id)},"request_id":${quoted(this.request_id)},"context":${this.#json.json(2)}}`;
  }

  /** One JSON column as text (PostgreSQL's while never read). */
  jsonText(column: 'old_values' | 'new_values' | 'context'): string {
    return this.#json.json(CHANGE_JSON_COLUMNS.indexOf(column));
  }
}

const CHANGE_JSON_COLUMNS = ['old_values', 'new_values', 'context'] as const;

/** An API-log row read by an export step (see JsonColumns). */
export class CopiedRequest implements RequestExportRecord {
  readonly log = 'requests' as const;
  readonly #json: JsonColumns;

  constructor(
    public position: string,
    public id: string,
    public time: string,
    public txid: string | null,
    public request_id: string,
    public method: string,
    public path: string,
    public route: string | null,
    public status: number | null,
    public duration_ms: number,
    public aborted: boolean,
    public actor_id: string | null,
    public actor_label: string | null,
    public ip: string | null,
    public user_agent: string | null,
    public error: string | null,
    json: [
      query: string | null,
      requestHeaders: string | null,
      responseHeaders: string | null,
      requestBody: string | null,
      responseBody: string | null,
    ],
  ) {
    this.#json = new JsonColumns(json);
  }

  get query(): unknown {
    return this.#json.get(0);
  }
  set query(value: unknown) {
    this.#json.set(0, value);
  }
  get request_headers(): unknown {
    return this.#json.get(1);
  }
  set request_headers(value: unknown) {
    this.#json.set(1, value);
  }
  get response_headers(): unknown {
    return this.#json.get(2);
  }
  set response_headers(value: unknown) {
    this.#json.set(2, value);
  }
  get request_body(): unknown {
    return this.#json.get(3);
  }
  set request_body(value: unknown) {
    this.#json.set(3, value);
  }
  get response_body(): unknown {
    return this.#json.get(4);
  }
  set response_body(value: unknown) {
    this.#json.set(4, value);
  }

  toJSON(): RequestExportRecord {
    return {
      position: this.position,
      log: this.log,
      id: this.id,
      time: this.time,
      txid: this.txid,
      request_id: this.request_id,
      method: this.method,
      path: this.path,
      route: this.route,
      query: this.query,
      status: this.status,
      duration_ms: this.duration_ms,
      aborted: this.aborted,
      actor_id: this.actor_id,
      actor_label: this.actor_label,
      ip: this.ip,
      user_agent: this.user_agent,
      request_headers: this.request_headers,
      response_headers: this.response_headers,
      request_body: this.request_body,
      response_body: this.response_body,
      error: this.error,
    };
  }

  jsonLine(): string {
    return `{"position":${quoted(this.position)},"log":"requests","id":${quoted(this.id)},"time":${quoted(this.time)},"txid":${quoted(this.txid)},"request_id":${quoted(this.request_id)},"method":${quoted(this.method)},"path":${quoted(this.path)},"route":${quoted(this.route)},"query":${this.#json.json(0)},"status":${this.status ?? 'null'},"duration_ms":${JSON.stringify(this.duration_ms)},"aborted":${this.aborted},"actor_id":${quoted(this.actor_id)},"actor_label":${quoted(this.actor_label)},"ip":${quoted(this.ip)},"user_agent":${quoted(this.user_agent)},"request_headers":${this.#json.json(1)},"response_headers":${this.#json.json(2)},"request_body":${this.#json.json(3)},"response_body":${this.#json.json(4)},"error":${quoted(this.error)}}`;
  }
}

/** A JSON value as the API log stores it in a jsonb column. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A jsonb value already written as JSON text (a body stored as it came): queued without serialising it again. */
export class JsonText {
  constructor(readonly text: string) {}
}

/** A jsonb column's value: a JSON value, or its text. */
export type StoredJson = JsonValue | JsonText;

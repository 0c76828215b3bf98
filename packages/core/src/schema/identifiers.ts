import pg from 'pg';

/** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1), which would silently target another schema. */
const MAX_IDENTIFIER_BYTES = 63;

export const DEFAULT_SCHEMA = 'auditrum';

/** Throws unless `schema` can name a PostgreSQL schema exactly as given. */
export function assertValidSchemaName(schema: string): void {
  if (schema.length === 0) {
    throw new Error('Invalid Auditrum schema name "": it must not be empty');
  }
  const bytes = Buffer.byteLength(schema, 'utf8');
  if (bytes > MAX_IDENTIFIER_BYTES) {
    throw new Error(
      `Invalid Auditrum schema name ${JSON.stringify(schema)}: it is ${bytes} bytes long, and PostgreSQL identifiers are limited to ${MAX_IDENTIFIER_BYTES} bytes`,
    );
  }
}

/** Quotes an identifier for use in SQL text; the only way identifiers enter Auditrum's SQL. */
export function quoteIdentifier(name: string): string {
  return pg.escapeIdentifier(name);
}

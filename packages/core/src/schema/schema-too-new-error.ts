/**
 * The database was migrated by a newer @auditrum/core than the one running. Running on would
 * mean reading and writing a schema this code does not understand, so migrate() refuses.
 */
export class SchemaTooNewError extends Error {
  override readonly name = 'SchemaTooNewError';

  constructor(
    readonly schema: string,
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `database schema ${JSON.stringify(schema)} is at migration ${databaseVersion} but this @auditrum/core only knows migrations up to ${codeVersion}; upgrade @auditrum/core`,
    );
  }
}

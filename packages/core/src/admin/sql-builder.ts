/** Collects the values of one statement as $n parameters: values never enter SQL text. */
export class SqlParams {
  readonly values: unknown[] = [];

  /** Adds a value and returns its placeholder. */
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** `x LIKE pattern ESCAPE '\'` patterns match the text literally. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Joins WHERE conditions; `true` when there are none. */
export function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? 'true' : conditions.join(' AND ');
}

/**
 * A condition every row of `actor` meets (the query gives `alias.actor_id = actor` too): the range of the actor index
 * `(actor_id, id)` that holds them, so that the planner reads a busy actor's newest rows through it. Given only the
 * equality and a batch of thousands to read, it walked the primary key instead and tested each entry's actor, a heap
 * fetch each (the busiest actor's newest 10,000 changes at 10,000,000: 185,000 entries, 31 ms of server CPU, against
 * 5 through its index; docs/benchmarks.md, session 11). The API log's actor index is not helped so: the planner then
 * read and sorted all the actor's calls (63,000: 77 ms, against 29 walking the primary key).
 */
export function actorIndexRange(alias: string, actor: string, sql: SqlParams): string {
  return `(${alias}.actor_id, ${alias}.id) <= (${sql.add(actor)}::text, 9223372036854775807::bigint)`;
}

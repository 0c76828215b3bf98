/** Which part of a history request was wrong: an argument, or (`no_row`) the row it names does not exist. */
export type HistoryInputProblem = 'table' | 'key' | 'field' | 'options' | 'no_row';

/**
 * A history request that cannot be answered as asked: an unknown or untracked table, a key of the wrong shape, an
 * unknown column, a row with no history. Nothing was written. `problem` says which part, when the thrower knows:
 * the CLI reports a missing row as not found and the rest as usage errors, the admin API a 404 or a 400 naming the
 * parameter.
 */
export class HistoryInputError extends Error {
  override name = 'HistoryInputError';
  readonly problem: HistoryInputProblem | undefined;

  constructor(message: string, options?: ErrorOptions & { problem?: HistoryInputProblem }) {
    super(message, options);
    this.problem = options?.problem;
  }
}

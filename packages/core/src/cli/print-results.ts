import type { TrackResult } from '../tracking/track.js';
import type { CliContext } from './cli-context.js';

const DONE: Record<TrackResult['action'], string> = {
  tracked: 'tracked',
  updated: 'updated',
  unchanged: 'unchanged',
  untracked: 'untracked',
};

/** One line per table (`tracked  public.users`); in a dry run, what would happen and the DDL. */
export function printResults(cli: CliContext, results: readonly TrackResult[], dryRun: boolean): void {
  if (!dryRun) {
    const width = Math.max(...results.map((r) => DONE[r.action].length));
    for (const result of results) cli.print(`${DONE[result.action].padEnd(width)}  ${result.table}`);
    return;
  }
  for (const result of results) {
    cli.print(`-- ${result.table}: ${result.action === 'unchanged' ? 'unchanged' : `would be ${result.action}`}`);
    if (result.ddl !== '') cli.print(result.ddl.trimEnd());
  }
  cli.print('-- dry run: nothing was changed');
}

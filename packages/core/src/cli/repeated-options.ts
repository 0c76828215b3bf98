import type { Command } from 'commander';
import { UsageError } from './usage-error.js';

/** Options that take a value each time they are given (a list built up). */
const REPEATABLE = new Set(['webhook-header']);

/**
 * Makes an option that takes a value a usage error when given twice: Commander keeps the last, so `purge --older-than
 * '13 months' … --older-than '1 day'` purged all but a day, and `erase --actor-id 42 --actor-id 43` erased 43 alone.
 * Flags without a value may repeat (saying it twice says nothing else).
 */
export function refuseRepeatedOptions(command: Command): void {
  for (const option of command.options) {
    if (!(option.required || option.optional) || REPEATABLE.has(option.name())) continue;
    let given = 0;
    command.on(`option:${option.name()}`, () => {
      given += 1;
      if (given > 1) throw new UsageError(`${option.long ?? option.flags} was given more than once: give it once`);
    });
  }
  for (const subcommand of command.commands) refuseRepeatedOptions(subcommand);
}

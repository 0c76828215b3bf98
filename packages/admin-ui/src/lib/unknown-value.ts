import type { UnknownReason } from '@auditrum/core/admin';

/** Why a value as of a time is not known, in words. */
export const VALUE_UNKNOWN: Record<UnknownReason, string> = {
  excluded: 'not recorded (excluded by the table’s rules)',
  masked: 'masked when recorded',
  oversized: 'too large to keep',
  added_later: 'not recorded (the column was added later)',
  untracked_gap: 'unknown (the table was not tracked for a while)',
  before_tracking: 'unknown (before tracking began)',
  not_recorded: 'not recorded',
  erased: 'erased on request',
};

/** A value the history cannot know (as of a time), with why: shown in words, never as a value. */
export class UnknownValue {
  constructor(readonly reason: UnknownReason) {}

  toString(): string {
    return VALUE_UNKNOWN[this.reason];
  }
}

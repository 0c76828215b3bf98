/**
 * An instant in time as history functions take it: a Date, or an ISO 8601 string that says its zone (`Z` or an
 * offset). A string without one is refused: read in the server's or the client's zone it would name another
 * instant depending on where it runs (the original read such times in the session's zone).
 */
export type InstantInput = Date | string;

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}(:?\d{2})?)$/;

/**
 * Checks `input` and returns it as the text of a timestamptz parameter with an explicit offset (a string keeps its
 * microseconds; a Date gives its ISO form). `what` names the argument in the error.
 */
export function parseInstant(input: InstantInput, what = 'time'): string {
  if (input instanceof Date) {
    if (Number.isNaN(input.getTime())) throw new Error(`auditrum: the ${what} is an invalid Date`);
    return input.toISOString();
  }
  if (typeof input !== 'string') {
    throw new Error(`auditrum: the ${what} must be a Date or an ISO 8601 string with a zone, not ${typeof input}`);
  }
  const text = input.trim();
  if (!ISO_WITH_ZONE.test(text)) {
    const zoneless = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(text);
    throw new Error(
      zoneless
        ? `auditrum: the ${what} ${JSON.stringify(input)} has no time zone; add Z or an offset such as +02:00 (it is never read in the server's zone)`
        : `auditrum: the ${what} ${JSON.stringify(input)} is not an ISO 8601 time with a zone, such as 2024-05-01T10:00:00Z or 2024-05-01T12:00:00+02:00`,
    );
  }
  if (!isRealDateTime(text)) {
    throw new Error(`auditrum: the ${what} ${JSON.stringify(input)} is not a valid date and time`);
  }
  return text;
}

// The regular expression checks the form; this checks the calendar (no 30 February, no 25:00, offsets within a day).
function isRealDateTime(text: string): boolean {
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = (
    text.match(/^(\d{4})-(\d{2})-(\d{2}).(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:[Zz]|[+-](\d{2}):?(\d{2})?)$/) ?? []
  )
    .slice(1)
    .map((part) => Number(part ?? 0));
  if (year === undefined || month === undefined || day === undefined) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    (hour ?? 0) <= 23 &&
    (minute ?? 0) <= 59 &&
    (second ?? 0) <= 59 &&
    (offsetHours ?? 0) <= 15 &&
    (offsetMinutes ?? 0) <= 59
  );
}

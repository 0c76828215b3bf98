/**
 * Makes a string storable in PostgreSQL text and jsonb: both reject NUL, and jsonb rejects unpaired surrogates
 * (JSON.stringify writes them as \udXXX escapes). Replaced, not dropped, so that lengths stay honest.
 */
export function cleanText(value: string): string {
  const wellFormed = value.isWellFormed() ? value : value.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\ufffd') : wellFormed;
}

/** cleanText() capped at `limit` characters, marked with an ellipsis when cut. */
export function cleanCapped(value: string, limit: number): string {
  const clean = cleanText(value);
  return clean.length > limit ? `${clean.slice(0, limit - 1)}…` : clean;
}

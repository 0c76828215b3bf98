/** Two significant digits: 1,234,567 is about 1,200,000 (an estimate's last digits mean nothing). */
export function roughly(n: number): number {
  const unit = 10 ** Math.max(0, Math.floor(Math.log10(Math.max(n, 1))) - 1);
  return Math.round(n / unit) * unit;
}

/** A count as the page shows it: an estimate (the server counts only so many) says so and keeps two digits. */
export function countText(n: number, estimated: boolean): string {
  return estimated
    ? `about ${roughly(n).toLocaleString('en')} (estimated: too many to count quickly)`
    : n.toLocaleString('en');
}

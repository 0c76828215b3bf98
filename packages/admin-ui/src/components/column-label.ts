/** The label a narrow screen shows before each cell (the column's header, when it is plain text). */
export function columnLabel(header: unknown, id: string): string {
  return typeof header === 'string' ? header : id;
}

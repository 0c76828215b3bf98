import type { TableRules } from '../tracking/table-rules.js';

/** Rules as `key: [id]  only: [a,b]  when: …`, the way status and sync print them. */
export function formatRules(rules: TableRules): string {
  const parts: string[] = [];
  if (rules.key) parts.push(`key: [${rules.key.join(',')}]`);
  if (rules.only) parts.push(`only: [${rules.only.join(',')}]`);
  if (rules.exclude?.length) parts.push(`exclude: [${rules.exclude.join(',')}]`);
  if (rules.mask?.length) parts.push(`mask: [${rules.mask.join(',')}] (${rules.maskMode ?? 'hash'})`);
  if (rules.when) parts.push(`when: ${rules.when}`);
  if (rules.maxValueBytes !== undefined) parts.push(`max value bytes: ${rules.maxValueBytes}`);
  return parts.join('  ');
}

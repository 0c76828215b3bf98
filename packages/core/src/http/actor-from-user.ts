import type { AuditActor } from '../context/audit-context.js';

/**
 * The actor of a user object as auth libraries leave it (`req.user` from passport, `ctx.state.user`): its `id`
 * (or a JWT's `sub`) and a label from `email`, `username` or `name`. Undefined when there is no usable id.
 */
export function actorFromUser(user: unknown): AuditActor | undefined {
  if (user === null || typeof user !== 'object') return undefined;
  const record = user as Record<string, unknown>;
  const id = idOf(record.id) ?? idOf(record.sub);
  if (id === undefined) return undefined;
  const label = [record.email, record.username, record.name].find(
    (value): value is string => typeof value === 'string' && value.length > 0,
  );
  return label === undefined ? { id } : { id, label };
}

function idOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

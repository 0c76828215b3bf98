const LISTENERS = Symbol.for('auditrum.assignment-listeners');

type Listener = (value: unknown) => void;
type Watched = { [LISTENERS]?: Map<string, Listener[]> };

/**
 * Calls `onAssign` whenever `target[key]` is assigned, keeping the property an ordinary readable, writable,
 * deletable one. This is how a request learns facts that other middleware sets after the audit middleware ran:
 * the user (auth runs later, and often queries the database before it knows the user) and the matched route.
 * Several watchers of one property (auditContext and apiLogger installed apart) are all called, in order.
 * A listener that throws is skipped: the host's assignment always succeeds.
 */
export function watchAssignment(target: object, key: string, onAssign: Listener): void {
  const watched = target as Watched;
  let listeners = watched[LISTENERS];
  const existing = listeners?.get(key);
  if (existing) {
    existing.push(onAssign);
    return;
  }
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor && (!descriptor.configurable || descriptor.get || descriptor.set)) return;
  if (!listeners) {
    listeners = new Map();
    Object.defineProperty(target, LISTENERS, { value: listeners, configurable: true });
  }
  const list: Listener[] = [onAssign];
  listeners.set(key, list);
  let current: unknown = descriptor?.value;
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get: () => current,
    set(value: unknown) {
      current = value;
      for (const listener of list) {
        try {
          listener(value);
        } catch {
          // Auditing must never break the host's code.
        }
      }
    },
  });
}

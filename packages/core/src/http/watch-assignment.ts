type Listener = (value: unknown) => void;

interface SharedAccessor {
  value: symbol;
  listeners: symbol;
  descriptor: PropertyDescriptor;
}

// One getter and setter per watched key, shared by every object: objects watched alike keep sharing one hidden
// class, so the framework's own code that reads the request stays fast (a closure per request would give each
// request a shape of its own, and every property access on it would slow down). Per-object state lives in two
// symbol-keyed data properties.
const accessors = new Map<string, SharedAccessor>();

function accessorFor(key: string): SharedAccessor {
  let accessor = accessors.get(key);
  if (!accessor) {
    const value = Symbol(`auditrum.${key}`);
    const listeners = Symbol(`auditrum.${key}.listeners`);
    type Slots = Record<symbol, unknown>;
    accessor = {
      value,
      listeners,
      descriptor: {
        configurable: true,
        enumerable: true,
        get(this: Slots) {
          return this[value];
        },
        set(this: Slots, next: unknown) {
          this[value] = next;
          for (const listener of this[listeners] as Listener[]) {
            try {
              listener(next);
            } catch {
              // Auditing must never break the host's code.
            }
          }
        },
      },
    };
    accessors.set(key, accessor);
  }
  return accessor;
}

/**
 * Calls `onAssign` whenever `target[key]` is assigned, keeping the property an ordinary readable, writable,
 * deletable one. This is how a request learns facts that other middleware sets after the audit middleware ran:
 * the user (auth runs later, and often queries the database before it knows the user) and the matched route.
 * Several watchers of one property (auditContext and apiLogger installed apart) are all called, in order.
 * A listener that throws is skipped: the host's assignment always succeeds.
 */
export function watchAssignment(target: object, key: string, onAssign: Listener): void {
  const accessor = accessorFor(key);
  const slots = target as Record<symbol, unknown>;
  const existing = slots[accessor.listeners] as Listener[] | undefined;
  if (existing) {
    existing.push(onAssign);
    return;
  }
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor && (!descriptor.configurable || descriptor.get || descriptor.set)) return;
  slots[accessor.value] = descriptor?.value;
  slots[accessor.listeners] = [onAssign];
  Object.defineProperty(target, key, accessor.descriptor);
}

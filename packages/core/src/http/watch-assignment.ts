type Listener = (value: unknown) => void;

/** What a watched property holds on one object: its value and who is told of assignments. */
interface Slot {
  value: unknown;
  listeners: Listener[];
}

interface SharedAccessor {
  slot: symbol;
  descriptor: PropertyDescriptor;
}

// One getter and setter per watched key, shared by every object: objects watched alike keep sharing one hidden
// class, so the framework's own code that reads the request stays fast (closures made per request would give each
// request a shape of its own). Per-object state is one symbol-keyed data property.
const accessors = new Map<string, SharedAccessor>();

function accessorFor(key: string): SharedAccessor {
  let accessor = accessors.get(key);
  if (!accessor) {
    const slot = Symbol(`auditrum.${key}`);
    type Slotted = Record<symbol, Slot>;
    accessor = {
      slot,
      descriptor: {
        configurable: true,
        enumerable: true,
        get(this: Slotted) {
          return this[slot]?.value;
        },
        set(this: Slotted, next: unknown) {
          const state = this[slot] as Slot;
          state.value = next;
          for (const listener of state.listeners) {
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
 * deletable one. This is how a request learns a fact that other middleware sets after the audit middleware ran
 * and that cannot be read later instead: Express's matched route, whose mount path is only known at match time.
 * Several watchers of one property (auditContext and apiLogger installed apart) are all called, in order.
 * A listener that throws is skipped: the host's assignment always succeeds.
 */
export function watchAssignment(target: object, key: string, onAssign: Listener): void {
  const accessor = accessorFor(key);
  const slots = target as Record<symbol, Slot | undefined>;
  const existing = slots[accessor.slot];
  if (existing) {
    existing.listeners.push(onAssign);
    return;
  }
  let value: unknown;
  if (Object.hasOwn(target, key)) {
    const descriptor = Object.getOwnPropertyDescriptor(target, key) as PropertyDescriptor;
    if (!descriptor.configurable || descriptor.get || descriptor.set) return;
    value = descriptor.value;
  }
  slots[accessor.slot] = { value, listeners: [onAssign] };
  Object.defineProperty(target, key, accessor.descriptor);
}

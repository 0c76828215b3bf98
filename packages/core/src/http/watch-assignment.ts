type Listener = (value: unknown) => void;

/** What a watched property holds on one object: its value and who is told of assignments. */
interface Slot {
  value: unknown;
  listeners: Listener[];
}

interface SharedAccessor {
  slots: WeakMap<object, Slot>;
  descriptor: PropertyDescriptor;
}

// One getter and setter per watched key, shared by every object: objects watched alike keep sharing one hidden
// class, so the framework's own code that reads the request stays fast (closures made per request would give each
// request a shape of its own). Per-object state is kept in a WeakMap, not in a property of the object: Express
// changes the prototype of every request and response, and V8 then builds a new hidden class (a copy of the
// object's property descriptors, about 1 KB) for every property added to that object, about 1 µs each.
const accessors = new Map<string, SharedAccessor>();

function accessorFor(key: string): SharedAccessor {
  let accessor = accessors.get(key);
  if (!accessor) {
    const slots = new WeakMap<object, Slot>();
    accessor = {
      slots,
      descriptor: {
        configurable: true,
        enumerable: true,
        get(this: object) {
          // Read through an object that inherits it, as an inherited data property would be.
          for (let owner: object | null = this; owner !== null; owner = Object.getPrototypeOf(owner)) {
            const state = slots.get(owner);
            if (state) return state.value;
          }
          return undefined;
        },
        set(this: object, next: unknown) {
          const state = slots.get(this);
          if (!state) {
            // An object that inherits the property from a watched one and has no state of its own: it gets its own
            // value, as an inherited data property would give it, and tells no watcher.
            Object.defineProperty(this, key, { value: next, writable: true, enumerable: true, configurable: true });
            return;
          }
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
  const existing = accessor.slots.get(target);
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
  accessor.slots.set(target, { value, listeners: [onAssign] });
  Object.defineProperty(target, key, accessor.descriptor);
}

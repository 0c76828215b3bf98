/**
 * Calls `onAssign` whenever `target[key]` is assigned, keeping the property an ordinary readable, writable,
 * deletable one. This is how a request learns facts that other middleware sets after the audit middleware ran:
 * the user (auth runs later, and often queries the database before it knows the user) and the matched route.
 */
export function watchAssignment<T extends object>(target: T, key: string, onAssign: (value: unknown) => void): void {
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  if (descriptor && (!descriptor.configurable || descriptor.get || descriptor.set)) return;
  let current: unknown = descriptor?.value;
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get: () => current,
    set(value: unknown) {
      current = value;
      onAssign(value);
    },
  });
}

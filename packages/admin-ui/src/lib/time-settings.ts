import { useSyncExternalStore } from 'react';

/** How the admin shows times: in UTC or the browser's zone, with milliseconds or to the second. */
export interface TimeSettings {
  utc: boolean;
  ms: boolean;
}

const STORAGE_KEY = 'auditrum-admin:time';
const DEFAULTS: TimeSettings = { utc: false, ms: false };

function read(): TimeSettings {
  try {
    const stored = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<TimeSettings> | null;
    return { utc: stored?.utc === true, ms: stored?.ms === true };
  } catch {
    // No storage (private mode, a sandbox): the defaults, for this page only.
    return DEFAULTS;
  }
}

let current: TimeSettings | undefined;
const listeners = new Set<() => void>();

/** The settings now (kept across visits in localStorage). */
export function timeSettings(): TimeSettings {
  current ??= read();
  return current;
}

/** Changes the settings; every time on the page is shown again with them. */
export function setTimeSettings(change: Partial<TimeSettings>): void {
  current = { ...timeSettings(), ...change };
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(current));
  } catch {
    // Not kept across visits; still applied now.
  }
  for (const listener of listeners) listener();
}

/** The settings, re-rendering when they change. */
export function useTimeSettings(): TimeSettings {
  return useSyncExternalStore((onChange) => {
    listeners.add(onChange);
    return () => listeners.delete(onChange);
  }, timeSettings);
}

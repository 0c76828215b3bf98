import { useEffect } from 'react';

/** A list row that `j` and `k` move between; its link marked `data-primary` (else its first link) is what Enter opens. */
export const KEYBOARD_ROW = 'data-keyboard-row';

/** Keys typed into a field are text, not shortcuts. */
function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

function rows(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>(`main [${KEYBOARD_ROW}]`)];
}

function primaryLink(row: HTMLElement): HTMLElement | null {
  return row.querySelector<HTMLElement>('a[data-primary]') ?? row.querySelector<HTMLElement>('a[href]');
}

/** Focuses the search field of the page's filters (opening them when folded); false when the page has none. */
function focusSearch(): boolean {
  const field =
    document.querySelector<HTMLInputElement>('main input[type="search"]') ??
    document.querySelector<HTMLInputElement>('main form input:not([type="hidden"])');
  if (!field) return false;
  const folded = field.closest('details');
  if (folded && !folded.open) folded.open = true;
  field.focus();
  field.select();
  return true;
}

/** Moves the focus to the next (`step` 1) or previous (-1) row's link, from the row that holds the focus. */
function moveRow(step: 1 | -1): boolean {
  const all = rows();
  if (all.length === 0) return false;
  const current = all.findIndex((row) => row.contains(document.activeElement));
  const next = current === -1 ? (step === 1 ? 0 : all.length - 1) : current + step;
  const row = all[Math.min(Math.max(next, 0), all.length - 1)] as HTMLElement;
  const link = primaryLink(row);
  if (!link) return false;
  link.focus();
  link.scrollIntoView({ block: 'nearest' });
  return true;
}

/**
 * The admin's keys, as in most mail and issue lists: `/` focuses the search, `j` and `k` move down and up the
 * list's rows (the row's link takes the focus, so Enter opens it, as any link). Not while typing in a field, nor
 * with a modifier (the browser's own shortcuts stay).
 */
export function useKeyboardShortcuts(): void {
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
      const handled =
        event.key === '/' ? focusSearch() : event.key === 'j' ? moveRow(1) : event.key === 'k' ? moveRow(-1) : false;
      if (handled) event.preventDefault();
    };
    document.addEventListener('keydown', onKeyDown);
    return () => document.removeEventListener('keydown', onKeyDown);
  }, []);
}

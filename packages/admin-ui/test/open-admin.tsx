import type { AdminClientConfig } from '@auditrum/core/admin';
import type { RenderResult } from '@testing-library/react';
import { render } from '@testing-library/react';
import { App } from '../src/App.tsx';

/** The base path the admin is mounted under in these tests. */
export const BASE = '/audit-admin';

/**
 * Opens the admin at a path, as the server would serve it: base element, injected config, and the app in a #root
 * element (as index.html has it: the write dialog makes the page behind inert).
 */
export function openAt(path: string, config: Omit<Partial<AdminClientConfig>, 'basePath'> = {}): RenderResult {
  window.__AUDITRUM_ADMIN__ = { basePath: BASE, ...config };
  const base = document.createElement('base');
  base.href = `${BASE}/`;
  document.head.replaceChildren(base);
  window.history.replaceState(null, '', `${BASE}${path}`);
  const root = Object.assign(document.createElement('div'), { id: 'root' });
  return render(<App />, { container: document.body.appendChild(root) });
}

import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { Link } from '../src/router/Link.tsx';
import { href, parseLocation, withQuery } from '../src/router/location.ts';

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe('the router under the injected base path', () => {
  it('maps browser paths to admin paths and back, under a base path or at the site root', () => {
    window.__AUDITRUM_ADMIN__ = { basePath: '/internal/audit-admin/' };
    expect(href('/changes/12')).toBe('/internal/audit-admin/changes/12');
    expect(parseLocation('/internal/audit-admin/changes/12?x=1').path).toBe('/changes/12');
    expect(parseLocation('/internal/audit-admin').path).toBe('/');
    // A path that only starts like the base is not under it.
    expect(parseLocation('/internal/audit-administration').path).toBe('/internal/audit-administration');
    window.__AUDITRUM_ADMIN__ = { basePath: '' };
    expect(href('/requests')).toBe('/requests');
    expect(parseLocation('/requests?actor=2').search.get('actor')).toBe('2');
  });

  it('leaves empty parameters out of a query', () => {
    expect(withQuery('/changes', { actor: '2', q: '', key: null, table: undefined, request: 'a b&c' })).toBe(
      '/changes?actor=2&request=a+b%26c',
    );
    expect(withQuery('/changes', {})).toBe('/changes');
  });

  it('navigates in place on a plain click, and lets the browser handle a click with a modifier key', () => {
    window.__AUDITRUM_ADMIN__ = { basePath: '/audit-admin' };
    window.history.replaceState(null, '', '/audit-admin/changes');
    render(<Link to="/requests">Requests</Link>);
    const link = screen.getByRole('link', { name: 'Requests' });
    expect(link.getAttribute('href')).toBe('/audit-admin/requests');
    // After the link's own handler: note whether it took over, then stop the simulated browser navigating.
    const handled: boolean[] = [];
    const observe = (event: Event) => {
      handled.push(event.defaultPrevented);
      event.preventDefault();
    };
    window.addEventListener('click', observe);
    try {
      fireEvent.click(link, { ctrlKey: true });
      expect(handled).toEqual([false]);
      expect(window.location.pathname).toBe('/audit-admin/changes');
      fireEvent.click(link);
      expect(handled).toEqual([false, true]);
      expect(window.location.pathname).toBe('/audit-admin/requests');
    } finally {
      window.removeEventListener('click', observe);
    }
  });
});

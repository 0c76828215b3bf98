import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChangesTable } from '../src/components/ChangesTable.tsx';
import { changeSummary } from '../src/lib/summary.ts';
import { directWriteChange, insertChange, updateChange } from './fixtures.ts';

describe('changeSummary', () => {
  it('lists each changed column of an UPDATE as "column: before → after"', () => {
    const change = updateChange({
      oldValues: { status: 'draft', total: '10.00' },
      newValues: { status: 'paid', total: '12.50' },
      changedColumns: ['status', 'total'],
    });
    expect(changeSummary(change)).toBe('status: draft → paid, total: 10.00 → 12.50');
  });

  it('writes non-string values as JSON, shortens long ones and counts the columns left out', () => {
    const change = updateChange({
      oldValues: { a: 1, b: null, c: { deep: true }, d: 'x'.repeat(100) },
      newValues: { a: 2, b: false, c: { deep: false }, d: 'y'.repeat(100) },
      changedColumns: ['a', 'b', 'c', 'd'],
    });
    expect(changeSummary(change)).toBe('a: 1 → 2, b: null → false, c.deep: true → false (+1 more)');
    const long = updateChange({
      oldValues: { note: 'x'.repeat(100) },
      newValues: { note: 'y' },
      changedColumns: ['note'],
    });
    expect(changeSummary(long)).toBe(`note: ${'x'.repeat(31)}… → y`);
  });

  it('names the first fields of an inserted or deleted row, and says a TRUNCATE removed every row', () => {
    expect(changeSummary(insertChange())).toBe('id: 7, customer_id: 3, status: draft (+2 more)');
    const deleted = updateChange({
      operation: 'DELETE',
      oldValues: { id: 7, status: 'paid' },
      newValues: null,
      changedColumns: null,
    });
    expect(changeSummary(deleted)).toBe('id: 7, status: paid');
    const truncated = updateChange({
      operation: 'TRUNCATE',
      rowKey: null,
      oldValues: null,
      newValues: null,
      changedColumns: null,
    });
    expect(changeSummary(truncated)).toBe('every row removed');
  });

  it('says "(erased)" for a column an erasure replaced, never null (the API gives null there)', () => {
    const renamed = updateChange({
      oldValues: { name: null, status: 'draft' },
      newValues: { name: null, status: 'paid' },
      changedColumns: ['name', 'status'],
      erased: { old: ['name'], new: ['name'] },
    });
    expect(changeSummary(renamed)).toBe('name: (erased) → (erased), status: draft → paid');
    const inserted = insertChange({
      newValues: { id: null, email: null, tier: 'gold' },
      erased: { old: [], new: ['id', 'email'] },
    });
    expect(changeSummary(inserted)).toBe('id: (erased), email: (erased), tier: gold');
    // A null no erasure touched stays null.
    expect(changeSummary(insertChange({ newValues: { id: 1, note: null } }))).toBe('id: 1, note: null');
  });

  it('says what a DDL row records happened to capture', () => {
    const ddl = (newValues: Record<string, unknown>, oldValues: Record<string, unknown> | null = null) =>
      changeSummary(updateChange({ operation: 'DDL', rowKey: null, oldValues, newValues, changedColumns: null }));
    expect(ddl({ event: 'untracked', ddl: 'DROP TRIGGER …' })).toBe('auditing stopped (untracked)');
    expect(ddl({ event: 'table_dropped' })).toBe('table dropped');
    expect(ddl({ event: 'capture_repaired' }, { problems: ['a is disabled', 'b is missing'] })).toBe(
      'stopped capture repaired: a is disabled; b is missing',
    );
  });

  it('names the changed keys inside a JSON column, not the whole objects', () => {
    const change = updateChange({
      oldValues: { address: { city: 'Leeds', zip: 'LS1 4DY', geo: { lat: 53.8 } }, tags: ['a'] },
      newValues: { address: { city: 'York', zip: 'LS1 4DY', geo: { lat: 53.9 }, floor: 2 }, tags: ['a', 'b'] },
      changedColumns: ['address', 'tags'],
    });
    expect(changeSummary(change)).toBe(
      'address.city: Leeds → York, address.geo.lat: 53.8 → 53.9, address.floor: (none) → 2 (+1 more)',
    );
  });

  it('falls back to the keys of the values when changedColumns is missing', () => {
    const change = updateChange({ oldValues: { qty: 1 }, newValues: { qty: 3 }, changedColumns: null });
    expect(changeSummary(change)).toBe('qty: 1 → 3');
  });
});

describe('ChangesTable', () => {
  beforeEach(() => {
    window.__AUDITRUM_ADMIN__ = { basePath: '/audit-admin' };
  });
  afterEach(() => {
    cleanup();
    delete window.__AUDITRUM_ADMIN__;
  });

  it('shows one line per change with links under the base path to the change, the row, the actor and the request', () => {
    render(
      <ChangesTable
        changes={[
          updateChange({ oldValues: { status: 'draft' }, newValues: { status: 'paid' }, changedColumns: ['status'] }),
        ]}
      />,
    );
    const rows = screen.getAllByRole('row');
    expect(rows).toHaveLength(2);
    const cells = within(rows[1] as HTMLElement);
    expect(cells.getByRole('link', { name: /status: draft → paid/ }).getAttribute('href')).toBe(
      '/audit-admin/changes/41',
    );
    expect(cells.getByRole('link', { name: '7' }).getAttribute('href')).toBe(
      '/audit-admin/history?table=public.orders&key=7',
    );
    expect(cells.getByRole('link', { name: 'bob@shop.test' }).getAttribute('href')).toBe('/audit-admin/actors/2');
    // The request as its method and route (its id in the title), and the change's reason under its summary.
    const request = cells.getByRole('link', { name: 'PATCH /orders/:id' });
    expect(request.getAttribute('href')).toBe('/audit-admin/requests/019ac0de-0000-7000-8000-00000000b0b1');
    expect(request.getAttribute('title')).toBe('request 019ac0de-0000-7000-8000-00000000b0b1');
    expect(cells.getByText('“customer called”')).toBeTruthy();
    expect(cells.getByText('UPDATE')).toBeTruthy();
    const time = rows[1]?.querySelector('time');
    expect(time?.getAttribute('datetime')).toBe('2026-11-26T10:15:00.000Z');
  });

  it('says who made a direct database write: the database role, or just the database when not stored', () => {
    render(
      <ChangesTable changes={[directWriteChange(), directWriteChange({ id: '43', context: { source: 'db' } })]} />,
    );
    const actors = [...document.querySelectorAll('td.col-actor')].map((cell) => cell.textContent);
    expect(actors).toEqual(['database role postgres', 'database (no app context)']);
  });
});

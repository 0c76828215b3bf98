import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { DiffView } from '../src/components/DiffView.tsx';
import { statesOfChange } from '../src/lib/change-states.ts';
import { diffRecords } from '../src/lib/diff.ts';
import { historyResponse, insertChange, updateChange } from './fixtures.ts';

afterEach(cleanup);

describe('diffRecords', () => {
  it('marks changed, added, removed and unchanged keys, and descends into changed nested objects', () => {
    const entries = diffRecords(
      { status: 'draft', total: '10.00', meta: { gift: false, note: 'door' }, gone: 1, tags: ['a'] },
      { status: 'paid', total: '10.00', meta: { gift: true, note: 'door' }, fresh: 2, tags: ['a', 'b'] },
    );
    expect(entries).toEqual([
      { key: 'status', kind: 'changed', before: 'draft', after: 'paid' },
      { key: 'total', kind: 'unchanged', before: '10.00', after: '10.00' },
      {
        key: 'meta',
        kind: 'changed',
        before: { gift: false, note: 'door' },
        after: { gift: true, note: 'door' },
        children: [
          { key: 'gift', kind: 'changed', before: false, after: true },
          { key: 'note', kind: 'unchanged', before: 'door', after: 'door' },
        ],
      },
      { key: 'fresh', kind: 'added', after: 2 },
      { key: 'tags', kind: 'changed', before: ['a'], after: ['a', 'b'] },
      { key: 'gone', kind: 'removed', before: 1 },
    ]);
  });

  it('treats every key of an inserted row as added and of a deleted row as removed', () => {
    expect(diffRecords(null, { id: 1 })).toEqual([{ key: 'id', kind: 'added', after: 1 }]);
    expect(diffRecords({ id: 1 }, null)).toEqual([{ key: 'id', kind: 'removed', before: 1 }]);
  });
});

describe('statesOfChange', () => {
  it('completes an UPDATE with the row state from its history, so unchanged columns can be shown', () => {
    const change = updateChange({
      oldValues: { status: 'draft' },
      newValues: { status: 'paid' },
      changedColumns: ['status'],
    });
    const history = historyResponse([
      {
        change: insertChange(),
        state: { id: 7, status: 'draft', total: '10.00' },
        oversized: [],
        erased: [],
        complete: true,
      },
      { change, state: { id: 7, status: 'paid', total: '10.00' }, oversized: [], erased: [], complete: true },
    ]);
    expect(statesOfChange(change, history)).toEqual({
      before: { id: 7, status: 'draft', total: '10.00' },
      after: { id: 7, status: 'paid', total: '10.00' },
    });
    expect(statesOfChange(change, null)).toEqual({ before: { status: 'draft' }, after: { status: 'paid' } });
  });
});

describe('DiffView', () => {
  const before = { id: 7, status: 'draft', total: '10.00', meta: { gift: false, note: 'leave at door' } };
  const after = { id: 7, status: 'paid', total: '10.00', meta: { gift: true, note: 'leave at door' } };

  it('shows the changed keys marked in words, and folds the unchanged ones behind a toggle', () => {
    const { container } = render(<DiffView entries={diffRecords(before, after)} />);
    const status = container.querySelector<HTMLElement>('tr[data-kind="changed"]');
    expect(status).not.toBeNull();
    expect(within(status as HTMLElement).getByText('changed')).toBeTruthy();
    expect(within(status as HTMLElement).getByText('draft')).toBeTruthy();
    expect(within(status as HTMLElement).getByText('paid')).toBeTruthy();
    expect(screen.queryByRole('rowheader', { name: /total/ })).toBeNull();

    const toggle = screen.getByRole('button', { name: 'Show 2 unchanged fields' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(toggle.textContent).toBe('Hide 2 unchanged fields');
    expect(screen.getByRole('rowheader', { name: /total/ })).toBeTruthy();
  });

  it('shows a change inside a JSON column at the nested key, with the nested unchanged keys folded too', () => {
    const { container } = render(<DiffView entries={diffRecords(before, after)} />);
    const meta = screen.getByRole('rowheader', { name: /meta/ }).closest('tr') as HTMLElement;
    const nested = within(meta).getByRole('table');
    expect(within(nested).getByRole('rowheader', { name: /gift/ }).closest('tr')?.dataset.kind).toBe('changed');
    expect(within(nested).getByText('false')).toBeTruthy();
    expect(within(nested).getByText('true')).toBeTruthy();
    expect(within(meta).getByRole('button', { name: 'Show 1 unchanged field' })).toBeTruthy();
    expect(container.querySelectorAll('table')).toHaveLength(2);
  });

  it('shows a nested JSON diff under the one header row, its strings quoted alike as JSON', () => {
    const address = (city: string, zip: string) => ({ address: { city, zip, floor: 2 } });
    render(<DiffView entries={diffRecords(address('Graz', '8010'), address('Linz', '4020'))} />);
    expect(screen.getAllByRole('columnheader').map((th) => th.textContent)).toEqual(['Field', 'Before', 'After']);
    const nested = within(screen.getByRole('rowheader', { name: /address/ }).closest('tr') as HTMLElement).getByRole(
      'table',
    );
    const cells = (key: string) =>
      [
        ...(within(nested)
          .getByRole('rowheader', { name: new RegExp(key) })
          .closest('tr')
          ?.querySelectorAll('td') ?? []),
      ].map((td) => td.textContent);
    expect(cells('city')).toEqual(['"Graz"', '"Linz"']);
    expect(cells('zip')).toEqual(['"8010"', '"4020"']);
    // A top-level text column keeps the plain reading: quoted only when it could be taken for another type.
    cleanup();
    render(<DiffView entries={diffRecords({ city: 'Graz', zip: '8010' }, { city: 'Linz', zip: '4020' })} />);
    expect(screen.getByText('Graz')).toBeTruthy();
    expect(screen.getByText('"8010"')).toBeTruthy();
  });

  it('renders nested values as indented JSON and hostile values as text, never as markup', () => {
    const hostile = '<script>window.__pwned = true</script><img src=x onerror="window.__pwned = true">';
    const { container } = render(
      <DiffView
        entries={diffRecords({ note: 'ok', items: [{ sku: 'A' }] }, { note: hostile, items: [{ sku: 'A', qty: 2 }] })}
      />,
    );
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByText(hostile)).toBeTruthy();
    const json = container.querySelectorAll('pre.json');
    expect(json[1]?.textContent).toBe('[\n  {\n    "sku": "A",\n    "qty": 2\n  }\n]');
    expect((window as { __pwned?: boolean }).__pwned).toBeUndefined();
  });

  it('shows a whole inserted or deleted row as one column of values', () => {
    const { container, unmount } = render(<DiffView entries={diffRecords(null, { id: 7, status: 'draft' })} />);
    expect([...container.querySelectorAll('th[scope="col"]')].map((th) => th.textContent)).toEqual(['Field', 'Value']);
    expect(container.querySelectorAll('td.diff-after')).toHaveLength(2);
    expect(screen.queryByText('added')).toBeNull();
    unmount();
    const deleted = render(<DiffView entries={diffRecords({ id: 7 }, null)} />);
    expect([...deleted.container.querySelectorAll('th[scope="col"]')].map((th) => th.textContent)).toEqual([
      'Field',
      'Value before deletion',
    ]);
    expect(deleted.container.querySelector('td.diff-before')?.textContent).toBe('7');
  });

  it('quotes strings that would read as another type', () => {
    render(<DiffView entries={diffRecords({ a: '12', b: '', c: 'null' }, { a: 12, b: ' ', c: null })} />);
    expect(screen.getByText('"12"')).toBeTruthy();
    expect(screen.getByText('""')).toBeTruthy();
    expect(screen.getByText('" "')).toBeTruthy();
    expect(screen.getByText('"null"')).toBeTruthy();
  });
});

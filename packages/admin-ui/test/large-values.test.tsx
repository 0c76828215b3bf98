import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { DiffView } from '../src/components/DiffView.tsx';
import { ValueView } from '../src/components/ValueView.tsx';
import { diffRecords } from '../src/lib/diff.ts';
import { diffLines } from '../src/lib/line-diff.ts';

afterEach(cleanup);

describe('large values, folded', () => {
  it('clips a 2,400-character text to its beginning, with "Show all"', () => {
    const note = `${'Customer asked for a gift wrap. '.repeat(75)}END`;
    expect(note.length).toBe(2403);
    const { container } = render(<ValueView value={note} />);
    expect(container.textContent).not.toContain('END');
    expect((container.querySelector('.long-text-body')?.textContent ?? '').length).toBeLessThanOrEqual(401);
    const button = screen.getByRole('button', { name: 'Show all 2,403 characters' });
    expect(button.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(button);
    expect(container.querySelector('.long-text-body')?.textContent).toBe(note);
    expect(screen.getByRole('button', { name: 'Show less' }).getAttribute('aria-expanded')).toBe('true');
  });

  it('folds an 80-item JSON array into its size, opening to members that fold again when large', () => {
    const items = Array.from({ length: 80 }, (_, i) => ({ sku: `SKU-${i}`, qty: i }));
    const { container } = render(<ValueView value={{ items, note: 'x' }} />);
    const outer = container.querySelector('details.json-node') as HTMLDetailsElement;
    expect(outer.open).toBe(false);
    expect(outer.querySelector('summary')?.textContent).toBe('{ 2 keys }');
    const inner = outer.querySelector('li details.json-node') as HTMLDetailsElement;
    expect(inner.querySelector('summary')?.textContent).toBe('[ 80 items ]');
    expect(inner.open).toBe(false);
    // A small member stays plain JSON.
    expect([...outer.querySelectorAll(':scope > ul > li > pre.json')].map((pre) => pre.textContent)).toEqual(['"x"']);
  });

  it('keeps a small JSON value as indented JSON, unfolded', () => {
    const { container } = render(<ValueView value={{ city: 'Graz', zip: '8010' }} />);
    expect(container.querySelector('details')).toBeNull();
    expect(container.querySelector('pre.json')?.textContent).toBe('{\n  "city": "Graz",\n  "zip": "8010"\n}');
  });

  it('diffs a long text line by line, folding the unchanged lines away from the change', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
    const before = lines.join('\n');
    const after = lines.map((line) => (line === 'line 15' ? 'line fifteen' : line)).join('\n');
    const { container } = render(<DiffView entries={diffRecords({ body: before }, { body: after })} />);
    const shown = [...container.querySelectorAll('.text-diff-line')].map((line) => line.textContent);
    expect(shown).toEqual([
      ' line 13',
      ' line 14',
      '−removed: line 15',
      '+added: line fifteen',
      ' line 16',
      ' line 17',
    ]);
    const folds = screen.getAllByRole('button', { name: /unchanged lines/ });
    expect(folds.map((button) => button.textContent)).toEqual(['Show 12 unchanged lines', 'Show 13 unchanged lines']);
    fireEvent.click(folds[0] as HTMLElement);
    expect(container.querySelectorAll('.text-diff-line')).toHaveLength(18);
  });
});

describe('diffLines', () => {
  it('finds removed, added and unchanged lines in order', () => {
    expect(diffLines('a\nb\nc\nd', 'a\nc\nd\ne')).toEqual([
      { kind: 'same', text: 'a' },
      { kind: 'removed', text: 'b' },
      { kind: 'same', text: 'c' },
      { kind: 'same', text: 'd' },
      { kind: 'added', text: 'e' },
    ]);
    expect(diffLines('x', 'y')).toEqual([
      { kind: 'removed', text: 'x' },
      { kind: 'added', text: 'y' },
    ]);
  });

  it('declines texts too long to diff (the table grows with the square)', () => {
    expect(diffLines('a\n'.repeat(3000), 'b')).toBeNull();
  });
});

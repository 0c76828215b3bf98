import { describe, expect, it } from 'vitest';
import { LinePages } from '../src/request-log/line-pages.js';

describe('LinePages', () => {
  it('keeps every line intact as UTF-8 across page boundaries, and lines longer than a page too', () => {
    const pages = new LinePages();
    const lines = Array.from({ length: 3000 }, (_, i) => `row ${i}\té ✓ 😀 ${'x'.repeat(i % 97)}\n`);
    lines.push(`${'ü'.repeat(40_000)}\n`);
    const copies = lines.map((line) => pages.copy(line));
    expect(copies.map((copy) => copy.toString('utf8'))).toEqual(lines);
    expect(Buffer.concat(copies).toString('utf8')).toBe(lines.join(''));
  });
});

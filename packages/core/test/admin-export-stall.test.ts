import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { exportResponse } from '../src/admin/export-response.js';

// A download whose client stops reading must not hold its source (a table as of a time holds a connection of the
// admin's pool for its COPY): after `stallMs` without a read the source is stopped, and the next read fails.
const STALL_MS = 80;

/** Lines that say whether they were stopped (their `finally` ran) and how many were read. */
function source(count: number) {
  const state = { read: 0, stopped: false };
  async function* lines(): AsyncGenerator<string> {
    try {
      for (let i = 1; i <= count; i++) {
        state.read = i;
        yield `line ${i}\n`;
      }
    } finally {
      state.stopped = true;
    }
  }
  return { state, lines: lines() };
}

function bodyOf(lines: AsyncGenerator<string>): AsyncIterableIterator<string> {
  const response = exportResponse('ndjson', 'f', { done: false, value: 'first\n' }, lines, undefined, STALL_MS);
  return response.body as AsyncIterableIterator<string>;
}

describe('an export whose client stops reading', () => {
  it('stops its source once the client has read nothing for the stall time, and fails the next read', async () => {
    const { state, lines } = source(10);
    const body = bodyOf(lines);
    expect(await body.next()).toEqual({ done: false, value: 'first\n' });
    expect(await body.next()).toEqual({ done: false, value: 'line 1\n' });
    await sleep(STALL_MS * 3);
    expect(state).toEqual({ read: 1, stopped: true });
    await expect(body.next()).rejects.toThrow('export stopped: the client read nothing for 0.08 s');
  });

  it('gives every line to a client that reads on, however long the download', async () => {
    const { state, lines } = source(6);
    const body = bodyOf(lines);
    const read: string[] = [];
    for await (const line of body) {
      read.push(line);
      await sleep(STALL_MS / 4);
    }
    expect(read).toEqual(['first\n', ...[1, 2, 3, 4, 5, 6].map((i) => `line ${i}\n`)]);
    expect(state).toEqual({ read: 6, stopped: true });
  });

  it('leaves nothing waiting once the client has left', async () => {
    const { state, lines } = source(10);
    const body = bodyOf(lines);
    await body.next();
    await body.next();
    await body.return?.();
    expect(state.stopped).toBe(true);
    await sleep(STALL_MS * 2);
    expect(await body.next()).toEqual({ done: true, value: undefined });
  });
});

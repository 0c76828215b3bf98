import { open, readFile, rename } from 'node:fs/promises';
import type { ExportCursor } from './export-cursor.js';
import { parseCursor } from './export-cursor.js';

/** The cursor stored at `path`, or undefined when there is no such file (a new cursor); anything else is refused. */
export async function readCursorFile(path: string): Promise<ExportCursor | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseCursor(text, `the cursor file ${path}`);
}

/**
 * Stores `cursor` at `path` so that a crash leaves the old cursor or the new one, never half of one: written to a
 * file beside it, synced, then renamed over it.
 */
export async function writeCursorFile(path: string, cursor: ExportCursor): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(cursor, null, 2)}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ExportFormat } from './export-format.js';
import type { ExportBatch, ExportSink } from './export-sink.js';

export interface FileSinkOptions {
  /** Start a new file once the current one holds this many bytes (checked between batches). */
  rotateBytes?: number | undefined;
  /** Start a new file once the current one is this old (by the time in its name). */
  rotateSeconds?: number | undefined;
  /** The clock, for tests. */
  now?: () => Date;
}

// <base>.<9-digit number>.<UTC start time>.<extension>: the number first, so names sort in the order written
// whatever the clock did; the time for people.
const fileName = (base: string, number: number, at: Date, extension: string) =>
  `${base}.${String(number).padStart(9, '0')}.${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}.${extension}`;
const FILE_PATTERN = (base: string, extension: string) =>
  new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d{9,})\\.(\\d{8}T\\d{6}Z)\\.${extension}$`);

interface CurrentFile {
  handle: FileHandle;
  number: number;
  opened: Date;
  size: number;
}

/**
 * Appends batches to `<base>.<number>.<time>.<extension>` files, starting a new one by size or age; each batch is
 * synced to disk before deliver() resolves. The newest file's last line says where the export stands: after a
 * crash, a line cut short is removed and the export resumes after the last whole one (deliveredThrough), so no
 * record is written twice or lost.
 */
export function fileSink(path: string, format: ExportFormat, options: FileSinkOptions = {}): ExportSink {
  const directory = dirname(path);
  const base = basename(path);
  const pattern = FILE_PATTERN(base, format.fileExtension);
  const now = options.now ?? (() => new Date());
  let current: CurrentFile | undefined;

  async function newest(): Promise<{ name: string; number: number; opened: Date } | undefined> {
    const names = await readdir(directory).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const files = names
      .map((name) => ({ name, match: pattern.exec(name) }))
      .filter((file): file is { name: string; match: RegExpExecArray } => file.match !== null)
      .map(({ name, match }) => ({ name, number: Number(match[1]), opened: timeFromName(match[2] as string) }))
      .sort((a, b) => a.number - b.number);
    return files.at(-1);
  }

  async function openNext(number: number): Promise<CurrentFile> {
    await mkdir(directory, { recursive: true });
    const opened = now();
    // 'wx': never append to a file that is not the newest of ours.
    const handle = await open(join(directory, fileName(base, number, opened, format.fileExtension)), 'wx');
    return { handle, number, opened, size: 0 };
  }

  async function fileFor(): Promise<CurrentFile> {
    if (current === undefined) {
      const last = await newest();
      if (last === undefined) {
        current = await openNext(1);
      } else {
        const handle = await open(join(directory, last.name), 'a');
        current = { handle, number: last.number, opened: last.opened, size: (await handle.stat()).size };
      }
    }
    const full = options.rotateBytes !== undefined && current.size > 0 && current.size >= options.rotateBytes;
    const old =
      options.rotateSeconds !== undefined &&
      current.size > 0 &&
      now().getTime() - current.opened.getTime() >= options.rotateSeconds * 1000;
    if (full || old) {
      await current.handle.close();
      current = await openNext(current.number + 1);
    }
    return current;
  }

  return {
    async deliveredThrough() {
      const last = await newest();
      if (last === undefined) return undefined;
      const line = await lastWholeLine(join(directory, last.name));
      if (line === undefined) return undefined;
      const delivered = format.delivered(line);
      if (delivered === undefined) throw new Error(`auditrum: the last line of ${last.name} is not an export record`);
      return delivered;
    },
    async deliver(batch: ExportBatch) {
      const file = await fileFor();
      const data = Buffer.from(batch.text, 'utf8');
      await file.handle.write(data);
      await file.handle.datasync();
      file.size += data.length;
    },
    async close() {
      await current?.handle.close();
      current = undefined;
    },
  };
}

function timeFromName(text: string): Date {
  const iso = text.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
  return new Date(iso);
}

const CHUNK = 64 * 1024;

/**
 * The file's last line ended by a newline; a line cut short after it (a crash mid-write) is cut off the file, so
 * the next record starts a line of its own. Reads backwards from the end, a chunk at a time.
 */
async function lastWholeLine(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r+');
  try {
    const size = (await handle.stat()).size;
    let tail = Buffer.alloc(0);
    let start = size;
    // Read until the tail holds the last newline and the one before it, or the whole file.
    while (start > 0) {
      const from = Math.max(0, start - CHUNK);
      const chunk = Buffer.alloc(start - from);
      await handle.read(chunk, 0, chunk.length, from);
      tail = Buffer.concat([chunk, tail]);
      start = from;
      const last = tail.lastIndexOf(10);
      if (last > 0 && tail.lastIndexOf(10, last - 1) !== -1) break;
    }
    const last = tail.lastIndexOf(10);
    const whole = last === -1 ? 0 : start + last + 1;
    if (whole < size) await handle.truncate(whole);
    if (last === -1) return undefined;
    const previous = last === 0 ? -1 : tail.lastIndexOf(10, last - 1);
    return tail.toString('utf8', previous + 1, last);
  } finally {
    await handle.close();
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';

/** What was seen of one body: its first bytes (up to the limit plus one) and its full size. */
export class BodyCapture {
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  /** Bytes seen in all. */
  bytes = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(chunk: unknown, encoding?: unknown): void {
    let buffer: Buffer;
    if (typeof chunk === 'string') {
      const enc = typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8';
      // Counting a string's bytes is cheaper than encoding it; encode only what is kept.
      if (this.#kept > this.#limit) {
        this.bytes += Buffer.byteLength(chunk, enc);
        return;
      }
      buffer = Buffer.from(chunk, enc);
    } else if (chunk instanceof Uint8Array) {
      buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    } else {
      return;
    }
    this.bytes += buffer.length;
    const room = this.#limit + 1 - this.#kept;
    if (room <= 0) return;
    // Copied: the caller may reuse its buffer after write() returns.
    const kept = Buffer.from(buffer.subarray(0, room));
    this.#chunks.push(kept);
    this.#kept += kept.length;
  }

  /** The kept bytes: the whole body when `bytes` is at most the limit. */
  content(): Buffer {
    return this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#kept);
  }

  get truncated(): boolean {
    return this.bytes > this.#limit;
  }
}

/**
 * Records the request body as the application's body parser (or stream handler) reads it. The `data` events are
 * observed by wrapping `emit`, not by adding a listener, which would switch the stream to flowing mode and lose
 * data for a parser that attaches later.
 */
export function tapRequestBody(req: IncomingMessage, limit: number): BodyCapture {
  const capture = new BodyCapture(limit);
  const emit = req.emit;
  req.emit = function tappedEmit(this: IncomingMessage, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'data') capture.add(args[0]);
    return emit.call(this, event, ...args);
  } as typeof req.emit;
  return capture;
}

/** Records the response body as the framework writes it, through `write` and `end`; behaviour is unchanged. */
export function tapResponseBody(res: ServerResponse, limit: number): BodyCapture {
  const capture = new BodyCapture(limit);
  const write = res.write;
  const end = res.end;
  res.write = function tappedWrite(this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    capture.add(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function tappedEnd(this: ServerResponse, chunk?: unknown, ...rest: unknown[]): ServerResponse {
    if (chunk !== undefined && typeof chunk !== 'function') capture.add(chunk, rest[0]);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as typeof res.end;
  return capture;
}

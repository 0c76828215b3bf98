import type { IncomingMessage, ServerResponse } from 'node:http';

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** What was seen of one body: its first bytes (up to the limit plus one) and its full size. */
export class BodyCapture {
  readonly #limit: number;
  // UTF-8 text written as a string is kept as that string (strings cannot change after write()): a JSON
  // response is then never encoded and decoded again.
  readonly #chunks: (Buffer | string)[] = [];
  #kept = 0;
  /** Bytes seen in all. */
  bytes = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes kept at most (one more is kept to tell a body of exactly the limit from a longer one). */
  get limit(): number {
    return this.#limit;
  }

  add(chunk: unknown, encoding?: unknown): void {
    if (typeof chunk === 'string') {
      const enc = typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8';
      // Counting a string's bytes is cheaper than encoding it; encode only what is kept.
      const size = Buffer.byteLength(chunk, enc);
      this.bytes += size;
      const room = this.#limit + 1 - this.#kept;
      if (room <= 0) return;
      if (size <= room && (enc === 'utf8' || enc === 'utf-8')) {
        this.#chunks.push(chunk);
        this.#kept += size;
      } else {
        this.#keep(Buffer.from(chunk, enc), room);
      }
    } else if (chunk instanceof Uint8Array) {
      this.bytes += chunk.byteLength;
      const room = this.#limit + 1 - this.#kept;
      // Copied: the caller may reuse its buffer after write() returns.
      if (room > 0) this.#keep(Buffer.from(chunk.subarray(0, room)), room);
    }
  }

  #keep(bytes: Buffer, room: number): void {
    const kept = bytes.length > room ? bytes.subarray(0, room) : bytes;
    this.#chunks.push(kept);
    this.#kept += kept.length;
  }

  /** The kept bytes: the whole body when `bytes` is at most the limit. */
  content(): Buffer {
    const [first] = this.#chunks;
    if (this.#chunks.length === 1 && Buffer.isBuffer(first)) return first;
    return Buffer.concat(
      this.#chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)),
      this.#kept,
    );
  }

  /** The kept bytes as UTF-8 text (invalid sequences replaced). */
  text(): string {
    if (this.#chunks.every((chunk) => typeof chunk === 'string')) return this.#chunks.join('');
    return utf8.decode(this.content());
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
    // A stream given an encoding (req.setEncoding('base64')) emits text in it: the bytes sent are that text decoded.
    if (event === 'data') capture.add(args[0], this.readableEncoding);
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

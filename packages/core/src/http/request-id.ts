import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

export interface RequestIdOptions {
  /** The header read and echoed. Default `x-request-id`. */
  header?: string;
  /**
   * When a valid inbound id is used instead of a new one: `'proxy'` (the default) when the request came from a proxy
   * the app trusts (the framework's own setting: Express's `trust proxy`, Koa's `app.proxy`, Fastify's
   * `trustProxy`), `true` always, `false` never.
   */
  trustInbound?: TrustInbound;
  /** Longest inbound id accepted, 1 to 128 characters. Default 128. */
  maxLength?: number;
  /** What an inbound id may consist of. Default letters, digits and `. _ ~ : / + = @ -`. */
  pattern?: RegExp;
  /** Makes a new id. Default a UUIDv7 (time-ordered, so ids sort by request time). */
  generate?: () => string;
  /** Send the id back in the response header. Default true. */
  echo?: boolean;
}

// uuid's v7() reads 16 random bytes from the OS for every id (about 2 µs); a pool refilled 4 KB at a time makes
// it about 0.6 µs. The monotonic sequence within a millisecond is kept here, as v7() keeps it without options.
const randomPool = Buffer.alloc(4096);
let poolOffset = randomPool.length;
const v7State = { msecs: Number.NEGATIVE_INFINITY, seq: 0 };

/** A UUIDv7: time-ordered, and strictly increasing within one process. */
export function uuidv7(): string {
  if (poolOffset + 16 > randomPool.length) {
    randomFillSync(randomPool);
    poolOffset = 0;
  }
  const random = randomPool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  const now = Date.now();
  if (now > v7State.msecs) {
    v7State.msecs = now;
    // 31 random bits, as uuid does, leaving room to count up within the millisecond.
    v7State.seq =
      (((random[6] as number) & 0x7f) << 24) |
      ((random[7] as number) << 16) |
      ((random[8] as number) << 8) |
      (random[9] as number);
  } else {
    v7State.seq = (v7State.seq + 1) | 0;
    if (v7State.seq === 0) v7State.msecs += 1;
  }
  return v7({ random, msecs: v7State.msecs, seq: v7State.seq });
}

/**
 * Whose inbound ids are used. An id sent by a client the app does not trust could name another request, so that the
 * request page and `undo` of a request join the two; a proxy the app trusts sets (or checks) the header itself.
 */
export type TrustInbound = boolean | 'proxy';
const TRUST_INBOUND: readonly unknown[] = [true, false, 'proxy'];

/** Request ids are stored as `changes.request_id`, which the context caps at 128 characters. */
export const MAX_REQUEST_ID_LENGTH = 128;
const DEFAULT_PATTERN = /^[A-Za-z0-9._~:/+=@-]+$/;
// Ids that count requests (pino-http's and koa-pino-logger's 1, 2, 3…, Fastify's own req-1, req-2…, each wrapping
// at 2^31) start again in every process and at every restart. Adopted, one id would name many requests in a log that
// outlives the process: the request page would join them and `undo` of a request would reverse them all. A fresh id
// is given instead. Longer numbers (a gateway's 64-bit snowflake ids) are kept, and so is whatever a pattern of the
// application's own allows (it says what its ids look like).
const COUNTER = /^(?:\d{1,12}|req-[0-9a-z]{1,7})$/;

/** Request-id options, checked once. */
export class RequestIds {
  readonly header: string;
  readonly echo: boolean;
  readonly #trustInbound: TrustInbound;
  readonly #maxLength: number;
  readonly #pattern: RegExp;
  readonly #refusesCounters: boolean;
  readonly #generate: () => string;

  constructor(options: RequestIdOptions = {}) {
    const header = options.header ?? 'x-request-id';
    if (typeof header !== 'string' || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) {
      throw new TypeError(`auditrum: requestId.header must be a valid HTTP header name, not ${JSON.stringify(header)}`);
    }
    const maxLength = options.maxLength ?? MAX_REQUEST_ID_LENGTH;
    if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > MAX_REQUEST_ID_LENGTH) {
      throw new RangeError(
        `auditrum: requestId.maxLength must be a whole number from 1 to ${MAX_REQUEST_ID_LENGTH}, not ${String(maxLength)}`,
      );
    }
    if (options.pattern !== undefined && !(options.pattern instanceof RegExp)) {
      throw new TypeError('auditrum: requestId.pattern must be a RegExp');
    }
    if (options.generate !== undefined && typeof options.generate !== 'function') {
      throw new TypeError('auditrum: requestId.generate must be a function returning a string');
    }
    if (options.trustInbound !== undefined && !TRUST_INBOUND.includes(options.trustInbound)) {
      throw new TypeError(
        `auditrum: requestId.trustInbound must be true, false or 'proxy', not ${JSON.stringify(options.trustInbound)}`,
      );
    }
    this.header = header.toLowerCase();
    this.echo = options.echo ?? true;
    this.#trustInbound = options.trustInbound ?? 'proxy';
    this.#maxLength = maxLength;
    // A global or sticky RegExp keeps state between test() calls; a copy without those flags does not.
    this.#pattern = options.pattern
      ? new RegExp(options.pattern.source, options.pattern.flags.replace(/[gy]/g, ''))
      : DEFAULT_PATTERN;
    this.#refusesCounters = options.pattern === undefined;
    this.#generate = options.generate ?? uuidv7;
  }

  /** Whether an inbound value is short enough, made of safe characters and (by default) not a counter's. */
  accepts(value: unknown): value is string {
    return (
      typeof value === 'string' &&
      value.length > 0 &&
      value.length <= this.#maxLength &&
      this.#pattern.test(value) &&
      !(this.#refusesCounters && COUNTER.test(value))
    );
  }

  /**
   * The id of a request: `existing` (set by an earlier middleware, e.g. pino-http's `req.id` given by its
   * `genReqId`) if valid, else the inbound header if trusted (`fromTrustedProxy`: the adapter's reading of the
   * framework's trust-proxy setting for the connection's peer) and valid, else a new one. Never throws: a failing
   * generator falls back to UUIDv7.
   */
  resolve(inbound: string | string[] | undefined, existing: unknown, fromTrustedProxy: boolean): string {
    if (existing !== undefined && existing !== null && existing !== '') {
      const id = String(existing);
      if (this.accepts(id)) return id;
    }
    const trusted = this.#trustInbound === 'proxy' ? fromTrustedProxy : this.#trustInbound;
    if (trusted && this.accepts(inbound)) return inbound;
    return this.#fresh();
  }

  #fresh(): string {
    try {
      const id = this.#generate();
      if (typeof id === 'string' && id.length > 0 && id.length <= MAX_REQUEST_ID_LENGTH && DEFAULT_PATTERN.test(id)) {
        return id;
      }
    } catch {
      // Fall through to the default: an id is never worth failing a request.
    }
    return uuidv7();
  }
}

import { badParameter } from './errors.js';

const MAX_TEXT = 1000;

/**
 * Reads a write's JSON body, field by field, with a 400 naming the field for anything invalid. A field the route
 * does not know is refused too (`finish()`): a misspelt `dryrun` must not run the write for real.
 */
export class BodyParams {
  readonly #body: Record<string, unknown>;
  readonly #read = new Set<string>();

  constructor(body: Record<string, unknown>) {
    this.#body = body;
  }

  #get(name: string): unknown {
    this.#read.add(name);
    return Object.hasOwn(this.#body, name) ? this.#body[name] : undefined;
  }

  /** A string of 1..maxLength characters without NUL; null and absent are undefined. */
  text(name: string, maxLength = MAX_TEXT): string | undefined {
    const value = this.#get(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw badParameter(name, 'must be a string');
    if (value === '' || value.length > maxLength) throw badParameter(name, `must be 1 to ${maxLength} characters`);
    if (value.includes('\u0000')) throw badParameter(name, 'contains a NUL character');
    return value;
  }

  required(name: string, maxLength = MAX_TEXT): string {
    const value = this.text(name, maxLength);
    if (value === undefined) throw badParameter(name, 'is required');
    return value;
  }

  /** `true` or `false`; absent is `false`. A string "false" is refused rather than read as true. */
  flag(name: string): boolean {
    const value = this.#get(name);
    if (value === undefined || value === null) return false;
    if (typeof value !== 'boolean') throw badParameter(name, 'must be true or false');
    return value;
  }

  /** Any JSON value (a row key may be a number, a string, an array or an object), as given. */
  value(name: string): unknown {
    return this.#get(name);
  }

  /** Refuses the fields no reader asked for. */
  finish(): void {
    const unknown = Object.keys(this.#body).filter((name) => !this.#read.has(name));
    const [first] = unknown;
    if (first !== undefined)
      throw badParameter(first, `is not a field of this route (known: ${[...this.#read].join(', ')})`);
  }
}

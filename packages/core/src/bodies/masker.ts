import { maskJwts } from './bearer-tokens.js';
import { cleanCapped, cleanText } from './clean-text.js';
import { maskMarkup } from './markup-secrets.js';
import {
  DEFAULT_SENSITIVE_FRAGMENTS,
  DEFAULT_SENSITIVE_HEADERS,
  DEFAULT_SENSITIVE_KEYS,
  SensitiveKeyMatcher,
} from './sensitive-keys.js';
import type { JsonValue } from './stored-json.js';
import { maskPairs, maskUrl, mayHoldUrlSecret } from './url-secrets.js';

export interface MaskOptions {
  /**
   * More sensitive keys, added to the defaults (password, token, secret, session_id, private_key, …), matched in
   * any case and with any separators (`pass_word`, `passWord` and `PASS-WORD` match `password`).
   */
  keys?: readonly string[];
  /** `false` masks only `keys` (the header defaults stay). Default true. */
  defaultKeys?: boolean;
  /**
   * Paths masked whatever their key, rooted at each body and at the query: `user.phone`, `items.*.iban`
   * (`*` is any one key or array index).
   */
  paths?: readonly string[];
  /** More header names masked as a whole, besides Authorization, Proxy-Authorization, Cookie and Set-Cookie. */
  headers?: readonly string[];
  /** What a masked value becomes. Default `[masked]`. */
  censor?: string;
}

/** Nesting kept in stored JSON; deeper values become the `too-deep` marker (PostgreSQL caps jsonb nesting too). */
export const MAX_JSON_DEPTH = 32;
/** Characters kept of one header value. */
export const MAX_HEADER_VALUE = 4096;
const MAX_HEADERS = 200;
/** Header names whose stored key and verdict are remembered; clients can send any names, so the cache is bounded. */
const HEADER_NAME_CACHE_LIMIT = 1000;

interface HeaderName {
  /** The name as stored (lower-cased, cleaned, capped), as a JSON string and a colon. */
  jsonKey: string;
  masked: boolean;
}

/**
 * Masks sensitive values in headers, query strings and JSON or form bodies, and makes them storable (no NUL, no
 * lone surrogate, bounded nesting), in one copy. Configured once; used for every request.
 */
export class Masker {
  readonly censor: string;
  readonly #keys: SensitiveKeyMatcher;
  readonly #headers: Set<string>;
  readonly #paths: string[][];
  readonly #headerNames = new Map<string, HeaderName>();
  readonly #censorJson: string;
  readonly #isSensitive: (name: string) => boolean;

  constructor(options: MaskOptions = {}) {
    const defaults = options.defaultKeys !== false;
    const keys = [...(defaults ? DEFAULT_SENSITIVE_KEYS : []), ...(options.keys ?? [])];
    this.#keys = new SensitiveKeyMatcher(keys, defaults ? DEFAULT_SENSITIVE_FRAGMENTS : []);
    this.#isSensitive = (name) => this.#keys.matches(name);
    this.#headers = new Set([...DEFAULT_SENSITIVE_HEADERS, ...(options.headers ?? [])].map((h) => h.toLowerCase()));
    this.#paths = (options.paths ?? []).map((path) => path.split('.'));
    this.censor = options.censor ?? '[masked]';
    this.#censorJson = JSON.stringify(this.censor);
  }

  /** Whether a key (of an object, a form field, a query parameter) is masked wherever it appears. */
  isSensitiveKey(key: string): boolean {
    return this.#keys.matches(key);
  }

  /** Whether a value at `path` (from the document's root) is masked by a configured path. */
  isSensitivePath(path: readonly string[]): boolean {
    return this.#paths.some(
      (pattern) => pattern.length === path.length && pattern.every((part, i) => part === '*' || part === path[i]),
    );
  }

  /**
   * Text with the secrets of its `name=value` pairs masked: form text sent as text/plain, a query string or
   * URL in prose, an XML attribute (see maskPairs).
   */
  maskText(text: string): string {
    return maskJwts(maskPairs(cleanText(text), this.#isSensitive, this.censor), this.censor);
  }

  /**
   * A text body (or its preview) masked as text (maskText), and its XML elements and `name: value` lines whose name
   * is sensitive (see maskMarkup).
   */
  maskTextBody(text: string): string {
    return maskMarkup(this.maskText(text), this.#isSensitive, this.censor);
  }

  /** A URL or path with its sensitive parameters, user-info password and JWTs masked; other text unchanged. */
  maskUrl(value: string): string {
    return maskJwts(mayHoldUrlSecret(value) ? maskUrl(value, this.#isSensitive, this.censor) : value, this.censor);
  }

  get hasPaths(): boolean {
    return this.#paths.length > 0;
  }

  /** A masked, storable copy of a parsed JSON (or form) value. */
  maskJson(value: unknown): JsonValue {
    return this.#mask(value, 0, this.hasPaths ? [] : undefined);
  }

  /**
   * Masked request or response headers, as the JSON text of an object (written directly: every request has
   * two sets); values capped at MAX_HEADER_VALUE characters.
   */
  headersJson(headers: Record<string, string | string[] | number | undefined>): string {
    let json = '{';
    let count = 0;
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined) continue;
      if (count > 0) json += ',';
      if (++count > MAX_HEADERS) {
        json += '"$auditrum":"more headers not stored"';
        break;
      }
      const header = this.#header(name);
      json += header.jsonKey;
      if (header.masked) {
        json += this.#censorJson;
      } else if (Array.isArray(value)) {
        json += JSON.stringify(value.slice(0, 50).map((item) => this.#headerValue(String(item))));
      } else {
        json += JSON.stringify(typeof value === 'string' ? this.#headerValue(value) : String(value));
      }
    }
    return `${json}}`;
  }

  // Any header may hold a URL (Referer, Location, Origin, Link, Content-Location, a proxy's own): masked as one.
  #headerValue(value: string): string {
    return cleanCapped(this.maskUrl(value), MAX_HEADER_VALUE);
  }

  // Every request sends the same few header names: their stored key and verdict are worked out once per name.
  #header(name: string): HeaderName {
    let header = this.#headerNames.get(name);
    if (header === undefined) {
      const key = cleanCapped(name.toLowerCase(), 256);
      header = { jsonKey: `${JSON.stringify(key)}:`, masked: this.#headers.has(key) || this.#keys.matches(key) };
      if (this.#headerNames.size >= HEADER_NAME_CACHE_LIMIT) this.#headerNames.clear();
      this.#headerNames.set(name, header);
    }
    return header;
  }

  /** The masked parameters of a query string (`a=1&a=2&b=` gives `{a: ['1', '2'], b: ''}`); null when empty. */
  maskQuery(search: string): Record<string, JsonValue> | null {
    if (search === '' || search === '?') return null;
    return this.maskForm(search);
  }

  /**
   * The masked fields of an application/x-www-form-urlencoded text, as an object; repeated fields as arrays. Fields
   * are split at `&` (as browsers, Express, Koa and Fastify do); what a reader that also splits at `;` takes for a
   * sensitive field is masked too (#semicolonFields).
   */
  maskForm(text: string): Record<string, JsonValue> {
    const fields: Record<string, string | string[]> = Object.create(null);
    for (const [key, field] of new URLSearchParams(text)) {
      const value = text.includes(';') ? this.#semicolonFields(key, field) : field;
      const existing = fields[key];
      if (existing === undefined) fields[key] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else fields[key] = [existing, value];
    }
    return this.#mask(fields, 0, this.hasPaths ? [] : undefined) as Record<string, JsonValue>;
  }

  /**
   * A field's value with what a reader that also splits fields at `;` takes for a sensitive field masked: the
   * separator that HTML 4 recommended, that Rack before 3.0, Python before 3.9.2 and many proxies' and log tools'
   * parsers still split at, and that stores `a=1;password=x` here as `a` holding `1;password=x`, `a;password=x` as
   * the field `a;password` (a sensitive last name masks the whole value). A sensitive name or a configured top-level
   * path; each value masked whole up to the next `;` (a `/` or `#` in it is the value's, not a delimiter, unlike in a
   * URL); at an encoded `%3B` too, which such a reader would not split at: masking more is safe.
   */
  #semicolonFields(key: string, value: string): string {
    const sensitive = (name: string) => this.#isSensitive(name) || this.isSensitivePath([name]);
    if (key.includes(';') && sensitive(key.slice(key.lastIndexOf(';') + 1))) return this.censor;
    if (!value.includes(';')) return value;
    const [first, ...pairs] = value.split(';');
    const masked = pairs.map((pair) => {
      const equals = pair.indexOf('=');
      return equals > 0 && sensitive(pair.slice(0, equals)) ? `${pair.slice(0, equals + 1)}${this.censor}` : pair;
    });
    return [first, ...masked].join(';');
  }

  /**
   * A string value: a URL's secrets masked, and JSON in a string (a serialised payload) masked inside, kept a
   * string; other strings only cleaned.
   */
  #maskString(value: string, depth: number): string {
    const text = maskJwts(cleanText(value), this.censor);
    if (mayHoldUrlSecret(text)) return maskUrl(text, this.#isSensitive, this.censor);
    const first = text.charCodeAt(0);
    // JSON in a string has its quotes escaped: only an object or array can hold a key to mask.
    if ((first === 0x7b || first === 0x5b) && depth < MAX_JSON_DEPTH && text.includes('"')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return text;
      }
      const masked = JSON.stringify(this.#mask(parsed, depth + 1, undefined));
      return masked === JSON.stringify(parsed) ? text : masked;
    }
    return text;
  }

  #mask(value: unknown, depth: number, path: string[] | undefined): JsonValue {
    if (typeof value === 'string') return this.#maskString(value, depth);
    if (typeof value === 'number') return Number.isFinite(value) ? value : null;
    if (typeof value === 'boolean' || value === null) return value;
    if (typeof value !== 'object') return null;
    if (depth >= MAX_JSON_DEPTH) return { $auditrum: 'too-deep' };
    if (Array.isArray(value)) {
      const out: JsonValue[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) {
        const itemPath = path && [...path, String(i)];
        out[i] = itemPath && this.isSensitivePath(itemPath) ? this.censor : this.#mask(value[i], depth + 1, itemPath);
      }
      return out;
    }
    // No prototype: a "__proto__" key is kept as data, not taken as the copy's prototype.
    const out: Record<string, JsonValue> = Object.create(null);
    for (const key of Object.keys(value)) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined || typeof item === 'function') continue;
      const itemPath = path && [...path, key];
      out[cleanText(key)] =
        this.#keys.matches(key) || (itemPath !== undefined && this.isSensitivePath(itemPath))
          ? this.censor
          : this.#mask(item, depth + 1, itemPath);
    }
    return out;
  }
}

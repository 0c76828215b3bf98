/**
 * The keys masked unless `mask.defaultKeys` is false: matched as words of a key, in any case and style (see
 * SensitiveKeyMatcher).
 */
export const DEFAULT_SENSITIVE_KEYS: readonly string[] = [
  'password',
  'pass',
  'passwd',
  'pwd',
  'passphrase',
  'token',
  'access',
  'refresh',
  'authorization',
  'authentication',
  'auth',
  'bearer',
  'jwt',
  'secret',
  'credentials',
  'credential',
  'private_key',
  'api_key',
  'apikey',
  'session_id',
  'sid',
  'jsessionid',
  'phpsessid',
  'cookie',
  'csrf',
  'xsrf',
  'signature',
  'otp',
  'totp',
  'pin',
  'passcode',
  'credit_card',
  'cvv',
  'ssn',
  // OAuth 2.0 token requests: a JWT bearer grant's or client's assertion, PKCE's verifier, a device code.
  'assertion',
  'code_verifier',
  'device_code',
];

/**
 * Parts of the default keys that mask a key wherever they appear in it, even inside a word: `newpassword`,
 * `password2`, `userpasswd`. (The other keys are too short or too common for that: `pin` in `spinner`.)
 */
export const DEFAULT_SENSITIVE_FRAGMENTS: readonly string[] = ['password', 'passwd', 'passphrase'];

/** Headers always masked, whatever their words: credentials and sessions. */
export const DEFAULT_SENSITIVE_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
];

/**
 * Splits a key into lower-case words at separators (anything but letters and digits: `_`, `-`, `.`, spaces,
 * brackets), camelCase humps and letter-digit boundaries: `X-API-Key`, `apiKey`, `api_key` and `API_KEY` all give
 * `api`, `key`; `password2` gives `password`, `2`.
 */
export function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/(?<=[a-zA-Z])(?=[0-9])|(?<=[0-9])(?=[a-zA-Z])/g, ' ')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 0);
}

const CACHE_LIMIT = 5000;

/**
 * Decides whether a key names a sensitive value. Keys are compared as words, so that separators and case do not
 * matter and words do not match inside other words: a configured key (its words joined: `api_key` is `apikey`)
 * matches when some run of adjacent words of the key, joined, is it. `passWord`, `pass_word`, `Pass-Word` and
 * `user[password]` all hold the run `password`; `tokens_count` holds no `token`. Fragments match anywhere in the
 * key's joined words. Each key is worked out once: decisions are cached, since bodies repeat their keys.
 */
export class SensitiveKeyMatcher {
  readonly #keys: Set<string>;
  readonly #longest: number;
  readonly #fragments: string[];
  readonly #cache = new Map<string, boolean>();

  constructor(keys: readonly string[], fragments: readonly string[] = []) {
    this.#keys = new Set(keys.map((key) => keyWords(key).join('')).filter((joined) => joined.length > 0));
    this.#fragments = fragments.map((fragment) => keyWords(fragment).join('')).filter((joined) => joined.length > 0);
    this.#longest = Math.max(0, ...[...this.#keys].map((joined) => joined.length));
  }

  matches(key: string): boolean {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const result = this.#decide(keyWords(key));
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(key, result);
    return result;
  }

  #decide(words: string[]): boolean {
    for (let start = 0; start < words.length; start++) {
      let run = '';
      for (let end = start; end < words.length; end++) {
        run += words[end];
        if (run.length > this.#longest) break;
        if (this.#keys.has(run)) return true;
      }
    }
    if (this.#fragments.length === 0) return false;
    const joined = words.join('');
    return this.#fragments.some((fragment) => joined.includes(fragment));
  }
}

/** The keys masked unless `mask.defaultKeys` is false: matched as words of a key, in any case and style. */
export const DEFAULT_SENSITIVE_KEYS: readonly string[] = [
  'password',
  'token',
  'access',
  'refresh',
  'authorization',
  'secret',
  'api_key',
  'apikey',
  'credit_card',
  'cvv',
  'ssn',
];

/** Headers always masked, whatever their words: credentials and sessions. */
export const DEFAULT_SENSITIVE_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
];

/**
 * Splits a key into lower-case words: `X-API-Key`, `apiKey`, `api_key` and `API_KEY` all give `api`, `key`.
 * Matching words rather than whole keys is what catches `access_token`, `newPassword` or `user[password]`.
 */
export function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length > 0);
}

const CACHE_LIMIT = 5000;

/**
 * Decides whether a key names a sensitive value: when the words of one configured key appear, in order and
 * next to each other, among the words of the key. Decisions are cached, since bodies repeat their keys.
 */
export class SensitiveKeyMatcher {
  readonly #patterns: string[][];
  readonly #cache = new Map<string, boolean>();
  readonly #hint: RegExp | undefined;

  constructor(keys: readonly string[]) {
    this.#patterns = keys.map(keyWords).filter((words) => words.length > 0);
    // A key that matches holds the first word of a pattern, in some case: text without any of them has no such key.
    const firstWords = [...new Set(this.#patterns.map((words) => words[0] as string))];
    this.#hint = firstWords.length > 0 ? new RegExp(firstWords.join('|'), 'i') : undefined;
  }

  /** Whether `text` might hold a matching key written literally (false means it surely holds none). */
  mayOccurIn(text: string): boolean {
    return this.#hint?.test(text) ?? false;
  }

  matches(key: string): boolean {
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const words = keyWords(key);
    const result = this.#patterns.some((pattern) => containsRun(words, pattern));
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(key, result);
    return result;
  }
}

function containsRun(words: string[], run: string[]): boolean {
  for (let start = 0; start + run.length <= words.length; start++) {
    let all = true;
    for (let i = 0; i < run.length; i++) {
      if (words[start + i] !== run[i]) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

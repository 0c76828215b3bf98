/**
 * Secrets in URLs and in `name=value` text: query parameters (`?token=…`), path parameters (`;jsessionid=…`),
 * fragment parameters (`#access_token=…`, OAuth's implicit flow), form text sent as `text/plain`, and the password
 * of user info (`https://user:password@host/`).
 */

// A name=value pair: after the start, a space or a URL's delimiters; the value is quoted (an XML or HTML attribute,
// `key="value"` in a log line) or ends at the next delimiter, space, quote or angle bracket (a URL in a Link header
// or in prose ends there), or at a `?` that starts another pair.
const PAIR = /(^|[?&;#\s])([^=&;#?\s]+)=("[^"]*"|'[^']*'|(?:[^&;#?\s"'<>]|\?(?![^=&;#?\s]+=))*)/g;
const USER_INFO = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/i;

/** Whether a value is a URL (absolute, or a path) that may hold a secret: a `name=value` pair, or user info. */
export function mayHoldUrlSecret(value: string): boolean {
  return (value.charCodeAt(0) === 0x2f || value.includes('://')) && (value.includes('=') || value.includes('@'));
}

/** `text` with the value of every `name=value` pair whose (decoded) name is sensitive replaced by `censor`. */
export function maskPairs(text: string, isSensitive: (name: string) => boolean, censor: string): string {
  if (!text.includes('=')) return text;
  return text.replace(PAIR, (pair, lead: string, name: string, value: string) => {
    if (isSensitive(decodeName(name))) {
      const quote = value[0] === '"' || value[0] === "'" ? value[0] : '';
      if (quote !== '') return `${lead}${name}=${quote}${censor}${quote}`;
      // A path parameter's value ends at the next segment.
      const slash = lead === ';' ? value.indexOf('/') : -1;
      return `${lead}${name}=${censor}${slash < 0 ? '' : value.slice(slash)}`;
    }
    // A URL as a value, not encoded (`?next=/cb?token=…`): its own pairs.
    return value.includes('=') ? `${lead}${name}=${maskPairs(value, isSensitive, censor)}` : pair;
  });
}

/** A URL with its sensitive parameters (query, path, fragment) and its user-info password replaced by `censor`. */
export function maskUrl(url: string, isSensitive: (name: string) => boolean, censor: string): string {
  const masked = maskPairs(url, isSensitive, censor);
  return masked.includes('@') ? masked.replace(USER_INFO, `$1:${censor}@`) : masked;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name;
  }
}

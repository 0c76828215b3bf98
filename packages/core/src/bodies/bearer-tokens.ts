/**
 * JSON Web Tokens found by their shape rather than their key: a JWS (`header.payload.signature`) or JWE (five
 * parts), each part base64url, the header a JSON object (`eyJ`). Whoever holds one is its subject, wherever it is
 * stored: under a key no list names (`{"data": "eyJ…"}`), in a header a proxy added, in a path (`/login/eyJ…`).
 */
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g;

/** Whether `text` may hold a JWT: the quick test before maskJwts does the work. */
export function mayHoldJwt(text: string): boolean {
  return text.includes('eyJ');
}

/** `text` with every JWT in it replaced by `censor`. */
export function maskJwts(text: string, censor: string): string {
  return mayHoldJwt(text) ? text.replace(JWT, censor) : text;
}

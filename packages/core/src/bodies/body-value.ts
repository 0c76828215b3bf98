import { BodyCapture } from './body-tap.js';
import { cleanCapped, cleanText } from './clean-text.js';
import { contentCodings, decodedBody } from './content-coding.js';
import { maskJsonPreview } from './mask-json-preview.js';
import type { Masker } from './masker.js';
import type { JsonValue, StoredJson } from './stored-json.js';
import { JsonText } from './stored-json.js';
import { isVerbatimJson } from './verbatim-json.js';

/** Characters of an unparsable JSON body kept in its `invalid-json` marker. */
export const INVALID_JSON_PREVIEW = 1024;

type BodyKind = 'json' | 'form' | 'text' | 'binary' | 'stream' | 'unknown';

// An app sends a handful of Content-Types: each is read once. Clients can send any (a multipart boundary differs
// per request), so the cache is bounded in entries and in the length of a cached type.
const kinds = new Map<string, BodyKind>();
const KIND_CACHE_LIMIT = 200;
const KIND_CACHE_MAX_LENGTH = 100;

/** What a Content-Type says about how to store the body. */
export function bodyKind(contentType: string | undefined): BodyKind {
  if (!contentType) return 'unknown';
  if (contentType.length > KIND_CACHE_MAX_LENGTH) return kindOf(contentType);
  let kind = kinds.get(contentType);
  if (kind === undefined) {
    kind = kindOf(contentType);
    if (kinds.size >= KIND_CACHE_LIMIT) kinds.clear();
    kinds.set(contentType, kind);
  }
  return kind;
}

function kindOf(contentType: string): BodyKind {
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  if (type === 'text/event-stream' || type.startsWith('multipart/')) return 'stream';
  if (
    type.startsWith('text/') ||
    type.endsWith('+xml') ||
    type === 'application/xml' ||
    type === 'application/javascript' ||
    type === 'application/graphql'
  ) {
    return 'text';
  }
  return 'binary';
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * The value stored for a body: the masked JSON value (JSON and form bodies, and text that parses as JSON), text
 * as a JSON string (its `name=value` secrets masked: form text sent as text/plain), or a marker object:
 * `{"$auditrum":"truncated","bytes":N,"preview":"…"}`, `{"$auditrum":"binary","contentType":"…","bytes":N}`,
 * `{"$auditrum":"stream"}`, `{"$auditrum":"invalid-json","preview":"…"}`.
 * Null when there was no body.
 */
export function bodyValue(
  capture: BodyCapture | undefined,
  contentType: string | undefined,
  masker: Masker,
  options: { declaredBody: boolean },
): JsonValue {
  let kind = bodyKind(contentType);
  if (!capture || capture.bytes === 0) {
    // A body was announced but never read while the request was handled (streamed elsewhere, or ignored).
    return options.declaredBody || kind === 'stream' ? { $auditrum: 'stream' } : null;
  }
  if (kind === 'stream') return { $auditrum: 'stream' };
  if (kind === 'unknown') kind = looksLikeText(capture.content()) ? 'text' : 'binary';
  if (kind === 'binary') {
    return { $auditrum: 'binary', contentType: cleanText(contentType ?? ''), bytes: capture.bytes };
  }
  if (capture.truncated) {
    const content = capture.content();
    const text = utf8.decode(content.subarray(0, content.length - 1));
    return { $auditrum: 'truncated', bytes: capture.bytes, preview: previewOf(text, kind, masker) };
  }
  const text = capture.text();
  if (kind === 'form') return masker.maskForm(text);
  if (kind === 'json' || looksLikeJson(text)) {
    try {
      return masker.maskJson(JSON.parse(text));
    } catch {
      if (kind === 'json') {
        return { $auditrum: 'invalid-json', preview: maskJsonPreview(text.slice(0, INVALID_JSON_PREVIEW), masker) };
      }
      // Text that looks like JSON but is not: its keys are read as leniently as an invalid JSON body's.
      return maskJsonPreview(text, masker);
    }
  }
  return masker.maskTextBody(text);
}

/**
 * bodyValue() as stored: a whole JSON body that masking would not change is kept as the text it came as
 * (see isVerbatimJson), sparing the parse-copy-serialise round; any other body is its bodyValue(). A body sent
 * compressed (`contentEncoding`: gzip, deflate, br) is stored decoded, as the app reads it; one that cannot be
 * decoded within the limit is described by the `binary` marker with its `contentEncoding`.
 */
export function storedBody(
  sent: BodyCapture | undefined,
  contentType: string | undefined,
  masker: Masker,
  options: { declaredBody: boolean; contentEncoding?: unknown },
): StoredJson {
  let capture = sent;
  const codings = contentCodings(options.contentEncoding);
  if (sent && sent.bytes > 0 && codings.length > 0) {
    const decoded = sent.truncated ? 'cannot-decode' : decodedBody(sent.content(), codings, sent.limit);
    // Not encoded after all: kept when it is text (a body compressed only after the tap saw it), never as garbage.
    if (decoded === 'cannot-decode' || (decoded === 'not-encoded' && !looksLikeText(sent.content()))) {
      return {
        $auditrum: 'binary',
        contentType: cleanText(contentType ?? ''),
        contentEncoding: cleanCapped(String(options.contentEncoding), 100),
        bytes: sent.bytes,
      };
    }
    if (decoded !== 'not-encoded') {
      capture = new BodyCapture(sent.limit);
      capture.add(decoded);
    }
  }
  if (capture && capture.bytes > 0 && !capture.truncated && bodyKind(contentType) === 'json') {
    const text = capture.text();
    if (isVerbatimJson(text, masker)) return new JsonText(text);
  }
  return bodyValue(capture, contentType, masker, options);
}

/**
 * A body as the app's body parser left it (read before the middleware could see it), as stored: its masked copy,
 * or over `maxBytes` (as serialised) the `truncated` marker, with the masked JSON's beginning as the preview and the
 * size the request declared (Content-Length), else the masked copy's.
 */
export function storedParsedBody(
  parsed: unknown,
  masker: Masker,
  maxBytes: number,
  declaredBytes: number | undefined,
): StoredJson {
  const text = JSON.stringify(masker.maskJson(parsed));
  // A UTF-16 code unit is at most 3 bytes: most bodies are known to fit without encoding them.
  if (text.length * 3 <= maxBytes) return new JsonText(text);
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return new JsonText(text);
  return {
    $auditrum: 'truncated',
    bytes: declaredBytes ?? bytes.length,
    preview: cleanText(utf8.decode(bytes.subarray(0, maxBytes))),
  };
}

function previewOf(text: string, kind: BodyKind, masker: Masker): string {
  if (kind === 'json' || looksLikeJson(text)) return maskJsonPreview(text, masker);
  if (kind === 'form') return new URLSearchParams(masker.maskForm(text) as Record<string, string>).toString();
  return masker.maskTextBody(text);
}

function looksLikeJson(text: string): boolean {
  const first = text.trimStart()[0];
  return first === '{' || first === '[';
}

function looksLikeText(content: Buffer): boolean {
  try {
    // stream: a multi-byte character cut at the 512th byte is not an error.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(content.subarray(0, 512), { stream: true });
    // Control characters other than tab and line breaks mean binary.
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return false;
    }
    return true;
  } catch {
    return false;
  }
}

import type { AdminRequest } from './admin-http.js';
import { AdminError, badParameter } from './errors.js';

/** The largest body a write accepts: a write names a change, a row or a request, never data. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * A request's body as an adapter hands it over: the raw stream (read here, bounded), or the value a body parser
 * of the host application already read from it (Express `express.json()`, Koa `koa-bodyparser`), which then
 * bounded it with its own limit.
 */
export type AdminRequestBody = AsyncIterable<Uint8Array | string> | { readonly parsed: unknown };

const JSON_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * Refuses a write whose body is not declared JSON (415), and one declared larger than MAX_BODY_BYTES (413), from its
 * headers alone. Only `application/json` (UTF-8) is taken: an HTML form can post
 * `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain` to any site without asking it first,
 * but not JSON.
 */
export function assertJsonBodyHeaders(headers: AdminRequest['headers']): void {
  const type = headers['content-type'];
  if (typeof type !== 'string' || !JSON_TYPE.test(type.trim())) {
    throw new AdminError(
      'unsupported_media_type',
      `a write takes a JSON body: send Content-Type: application/json (got ${typeof type === 'string' ? JSON.stringify(type) : 'none'})`,
    );
  }
  if (Number(headers['content-length']) > MAX_BODY_BYTES) throw tooLarge();
}

/**
 * The JSON object a write sends (headers checked by assertJsonBodyHeaders first): 413 when the stream goes over
 * MAX_BODY_BYTES, 400 `body` for bytes that are not UTF-8 JSON or JSON that is not an object.
 */
export async function readJsonBody(request: AdminRequest): Promise<Record<string, unknown>> {
  assertJsonBodyHeaders(request.headers);
  const body = request.body;
  if (body === undefined) throw badParameter('body', 'is required: a JSON object');
  const value = 'parsed' in body ? body.parsed : parseJson(await readBounded(body));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badParameter('body', 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

async function readBounded(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
      size += bytes.length;
      // Stops reading: the rest of a huge body is never held (the server discards it with the response).
      if (size > MAX_BODY_BYTES) throw tooLarge();
      chunks.push(bytes);
    }
  } catch (error) {
    if (error instanceof AdminError) throw error;
    // The client went away mid-body (or sent a broken chunked encoding): its request, not the admin, failed.
    throw badParameter('body', `could not be read (${(error as Error).message})`);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) throw badParameter('body', 'is required: a JSON object');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badParameter('body', 'is not UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badParameter('body', `is not valid JSON (${(error as Error).message})`);
  }
}

function tooLarge(): AdminError {
  return new AdminError('payload_too_large', `a write's body may be at most ${MAX_BODY_BYTES} bytes`);
}

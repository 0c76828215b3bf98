import { setTimeout as sleep } from 'node:timers/promises';
import type { ExportFormat } from './export-format.js';
import type { ExportBatch, ExportSink } from './export-sink.js';

export interface WebhookSinkOptions {
  /** Tries per batch before the export fails (its cursor stays at the last batch delivered). Default 10. */
  maxAttempts?: number | undefined;
  /** The first retry's wait; doubled each time up to maxDelayMs. Defaults 500 ms and 30 s. */
  baseDelayMs?: number | undefined;
  maxDelayMs?: number | undefined;
  /** One request's time limit. Default 30 s. */
  timeoutMs?: number | undefined;
  /** Extra request headers (an Authorization header, say). */
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
  /** The random source of the jitter, for tests. */
  random?: () => number;
}

/**
 * Statuses worth another try: the receiver is busy, restarting, out of room or of time (any 5xx: a proxy's 520-524
 * too); any other 4xx will not change.
 */
const retried = (status: number): boolean => status === 408 || status === 425 || status === 429 || status >= 500;
/** A Retry-After longer than this is cut to it: an export should not go quiet for hours on one header. */
const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;

/**
 * The wait before retry `attempt` (1 for the first): "full jitter" (a random wait up to the exponential step, capped),
 * so that exporters that lost the same receiver do not come back in step; a Retry-After (seconds or an HTTP date)
 * from the receiver is honoured instead.
 */
export function webhookRetryDelay(
  attempt: number,
  retryAfter: string | null,
  { baseDelayMs = 500, maxDelayMs = 30_000, random = Math.random }: WebhookSinkOptions = {},
  now = Date.now(),
): number {
  if (retryAfter !== null) {
    const seconds = /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter.trim()) * 1000 : Date.parse(retryAfter) - now;
    if (Number.isFinite(seconds)) return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, seconds));
  }
  return random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
}

/** A batch the receiver refused for good, or that failed every try. */
export class WebhookDeliveryError extends Error {
  override name = 'WebhookDeliveryError';
}

/**
 * POSTs each batch to `url` (NDJSON or CEF lines), with an `Idempotency-Key` header that is the same when a batch is
 * sent again (a retry, or the same records after a crash and resume), and `Auditrum-Export-First` and
 * `Auditrum-Export-Last` positions. A 2xx is delivered; 408, 425, 429 and 5xx, a network failure or a time-out are
 * tried again after a backoff; any other status fails the export at once.
 */
export function webhookSink(url: string, format: ExportFormat, options: WebhookSinkOptions = {}): ExportSink {
  const maxAttempts = options.maxAttempts ?? 10;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    deliveredThrough: async () => undefined,
    async deliver(batch: ExportBatch) {
      for (let attempt = 1; ; attempt += 1) {
        let retryAfter: string | null = null;
        let failure: string;
        try {
          const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
          const response = await fetch(url, {
            method: 'POST',
            headers: {
              ...options.headers,
              'content-type': format.contentType,
              'idempotency-key': batch.key,
              'auditrum-export-first': batch.first,
              'auditrum-export-last': batch.last,
            },
            body: batch.text,
            signal: AbortSignal.any(signals),
            // Followed, a 301, 302 or 303 turns the POST into a GET without the records, and the 200 it gets would
            // count as delivered: the batch lost, the cursor past it. A redirect is the receiver's address to fix.
            redirect: 'manual',
          });
          // The body is read (and dropped) so the connection can be reused.
          await response.arrayBuffer().catch(() => undefined);
          if (response.ok) return;
          failure = `HTTP ${response.status}`;
          const location = response.headers.get('location');
          if (response.status >= 300 && response.status < 400 && location !== null) {
            throw new WebhookDeliveryError(
              `auditrum: the webhook redirected a batch (${failure} to ${location}); not followed: give that URL`,
            );
          }
          if (!retried(response.status)) {
            throw new WebhookDeliveryError(`auditrum: the webhook refused a batch (${failure}); not retried`);
          }
          retryAfter = response.headers.get('retry-after');
        } catch (error) {
          if (error instanceof WebhookDeliveryError || options.signal?.aborted) throw error;
          failure = (error as Error).cause ? String((error as Error).cause) : (error as Error).message;
        }
        if (attempt >= maxAttempts) {
          throw new WebhookDeliveryError(
            `auditrum: the webhook did not take a batch after ${attempt} tries (last: ${failure})`,
          );
        }
        await sleep(webhookRetryDelay(attempt, retryAfter, options), undefined, { signal: options.signal });
      }
    },
    close: async () => undefined,
  };
}

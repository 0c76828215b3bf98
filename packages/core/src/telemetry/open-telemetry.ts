import type * as OpenTelemetry from '@opentelemetry/api';
import { optionalPeer } from './optional-peer.js';

/**
 * @opentelemetry/api when the host has it installed (an optional peer dependency), else undefined: then nothing
 * is loaded and every function here costs one comparison.
 */
const api = optionalPeer<typeof OpenTelemetry>('@opentelemetry/api');

/** The trace and span a change was made in, as hex ids. */
export interface TraceIds {
  traceId: string;
  spanId: string;
}

/** The active span's ids, if OpenTelemetry is installed and a valid span is active. */
export function activeTraceIds(): TraceIds | undefined {
  const span = api?.trace.getActiveSpan();
  if (span === undefined) return undefined;
  const context = span.spanContext();
  if (!api?.isSpanContextValid(context)) return undefined;
  return { traceId: context.traceId, spanId: context.spanId };
}

/**
 * Runs the library's own work (an API-log write, partition maintenance, an export batch) in a span of the
 * `auditrum` tracer, marked as failed when it throws; just runs it when OpenTelemetry is absent.
 */
export async function traced<T>(
  name: string,
  attributes: Record<string, string | number | boolean>,
  work: () => Promise<T>,
): Promise<T> {
  if (api === undefined) return work();
  const otel = api;
  return otel.trace.getTracer('auditrum').startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work();
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: otel.SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

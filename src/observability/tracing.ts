import {
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Span,
  type Context,
} from "@opentelemetry/api";
import { traceIdOf, traceparentFor } from "../ingress/trace.ts";

const tracer = trace.getTracer("buildcast");

/** whether spans are recorded and exported (initTracing found an endpoint) */
let exporting = false;
export const tracingOn = (): boolean => exporting;

/**
 * Span export is on when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set, the way
 * every OpenTelemetry SDK reads it; the exporter reads the rest of the OTEL_* variables itself.
 * Without it the API's no-op tracer costs nothing and trace ids still flow through events.
 */
export async function initTracing(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<(() => Promise<void>) | null> {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return null;
  // loaded only when exporting: the SDK and exporter cost ~16 MB of memory otherwise unused
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }] =
    await Promise.all([
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/sdk-trace-node"),
    ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME ?? "buildcast" }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register();
  exporting = true;
  return () => provider.shutdown();
}

/** The context a W3C traceparent names (incoming header or an event's extension). */
export function contextFrom(traceparent: string | undefined): Context {
  return traceparent ? propagation.extract(context.active(), { traceparent }) : context.active();
}

/** The traceparent to hand on for `span`; a fresh one when tracing is off (no valid span). */
export function traceparentOf(span: Span, fallbackParent: string | undefined): string {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier.traceparent ?? traceparentFor(fallbackParent);
}

/**
 * The traceparent to hand on to work that `span` causes (an event it publishes, a delivery
 * it queues), so that work's span is this span's child; `parent` unchanged when no span is
 * recorded (tracing off), which keeps the trace id flowing at no cost.
 */
export function handOn(span: Span, parent: string | undefined): string | undefined {
  if (!span.isRecording()) return parent;
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier.traceparent ?? parent;
}

type Kind = "server" | "client" | "consumer" | "producer" | "internal";

const SPAN_KIND: Readonly<Record<Kind, SpanKind>> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  consumer: SpanKind.CONSUMER,
  producer: SpanKind.PRODUCER,
  internal: SpanKind.INTERNAL,
};

function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** Runs `work` inside a span that is a child of `traceparent`, ending it with the outcome. */
export async function inSpan<T>(
  name: string,
  traceparent: string | undefined,
  kind: Kind,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { kind: SPAN_KIND[kind] }, contextFrom(traceparent), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** For an event of a batch, the traceparent to hand on (its trace's span of the batch's work). */
export type HandOn = (eventTraceparent: string | undefined) => string | undefined;

/**
 * Runs `work` once for a batch of events, with a span in the trace of each (a consumer's
 * batch holds events of many webhooks, and each webhook's trace must show the work done on
 * it). The spans share the batch's duration and outcome; the last one is active. `work` gets
 * what to hand on for each event, so what it queues continues that event's span.
 */
export async function inBatchSpans<T>(
  name: string,
  traceparents: readonly (string | undefined)[],
  kind: Kind,
  work: (handOnFor: HandOn) => Promise<T>,
): Promise<T> {
  const distinct = [...new Set(traceparents)];
  if (distinct.length <= 1) {
    return inSpan(name, distinct[0], kind, (span) => work((parent) => handOn(span, parent)));
  }
  const attributes = { "messaging.batch.message_count": traceparents.length };
  const spans = new Map(
    distinct.map((traceparent) => [
      traceparent,
      tracer.startSpan(name, { kind: SPAN_KIND[kind], attributes }, contextFrom(traceparent)),
    ]),
  );
  const handOnFor: HandOn = (parent) => {
    const span = spans.get(parent);
    return span ? handOn(span, parent) : parent;
  };
  const active = [...spans.values()].at(-1) ?? trace.getActiveSpan();
  try {
    return await (active
      ? context.with(trace.setSpan(context.active(), active), () => work(handOnFor))
      : work(handOnFor));
  } catch (error) {
    for (const span of spans.values()) failed(span, error);
    throw error;
  } finally {
    for (const span of spans.values()) span.end();
  }
}

/** The trace id in a traceparent, for log lines; null when there is none. */
export const traceIdOrNull = (traceparent: string | undefined): string | null =>
  traceparent ? traceIdOf(traceparent) : null;

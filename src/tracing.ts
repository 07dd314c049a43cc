import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { HeraldConfig } from "./config.js";

/**
 * Distributed tracing with OpenTelemetry, exported over OTLP/HTTP when `tracing.endpoint` is set.
 * Trace context travels as W3C `traceparent`: the HTTP header at ingress and delivery, and the
 * CloudEvents Distributed Tracing extension (`traceparent`) on the event while it sits in a backend,
 * so a delivery span is a child of the ingress span even across Kafka, RabbitMQ or Pub/Sub.
 * Without an endpoint no span is recorded and nothing is exported: an incoming `traceparent` header
 * is only carried over to the event.
 */
export interface TraceSpan {
  /** The span's own W3C traceparent (the parent's when tracing is off), to pass downstream. */
  readonly traceparent: string | undefined;
  setAttributes(attributes: Attributes): void;
  end(error?: string): void;
}

export interface Tracing {
  readonly enabled: boolean;
  start(
    name: string,
    kind: "server" | "client",
    parent: string | undefined,
    attributes?: Attributes,
  ): TraceSpan;
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

const disabled: Tracing = {
  enabled: false,
  start: (_name, _kind, parent) => ({ traceparent: parent, setAttributes: () => {}, end: () => {} }),
  shutdown: async () => {},
};

export function createTracing(config: HeraldConfig["tracing"]): Tracing {
  if (!config.endpoint) return disabled;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: config.endpoint }), {
        scheduledDelayMillis: 1_000,
      }),
    ],
  });
  const tracer: Tracer = provider.getTracer("herald");
  return {
    enabled: true,
    start(name, kind, parent, attributes) {
      const parentContext = parent
        ? propagator.extract(ROOT_CONTEXT, { traceparent: parent }, defaultTextMapGetter)
        : ROOT_CONTEXT;
      const span = tracer.startSpan(
        name,
        { kind: kind === "server" ? SpanKind.SERVER : SpanKind.CLIENT, attributes },
        parentContext,
      );
      const carrier: Record<string, string> = {};
      propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
      return {
        traceparent: carrier.traceparent,
        setAttributes: (more) => void span.setAttributes(more),
        end(error) {
          if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}

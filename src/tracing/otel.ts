// OpenTelemetry export (OTLP over HTTP/JSON), on only when an endpoint is configured
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). The SDK is loaded
// by a dynamic import, so a node without export neither loads nor pays for it. The
// provider is not registered globally: Herald starts its spans from this tracer with
// explicit parents, and several nodes in one process (tests) keep apart.
import type { Context, Span, Tracer } from '@opentelemetry/api';
import type { TracingConfig } from '../config.ts';
import { parseTraceparent } from './context.ts';
import type { SpanHandle, SpanKind, SpanStart, Tracing } from './tracer.ts';

export async function createOtelTracing(config: TracingConfig): Promise<Tracing> {
  const api = await import('@opentelemetry/api');
  const { NodeTracerProvider, BatchSpanProcessor, RandomIdGenerator } = await import(
    '@opentelemetry/sdk-trace-node'
  );
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');

  // Herald picks a request's trace id before its span exists (it names the request in the
  // logs at once): the root span takes that id instead of a random one.
  const random = new RandomIdGenerator();
  let presetTraceId: string | null = null;
  const idGenerator = {
    generateTraceId: () => presetTraceId ?? random.generateTraceId(),
    generateSpanId: () => random.generateSpanId(),
  };
  const exporter = new OTLPTraceExporter({ url: config.endpoint, headers: config.headers });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    idGenerator,
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.exportDelayMs })],
  });
  const tracer: Tracer = provider.getTracer('herald');
  const kinds: Record<SpanKind, number> = {
    server: api.SpanKind.SERVER,
    internal: api.SpanKind.INTERNAL,
    producer: api.SpanKind.PRODUCER,
    consumer: api.SpanKind.CONSUMER,
  };

  const handle = (span: Span): SpanHandle => {
    const c = span.spanContext();
    const flags = (c.traceFlags & 0xff).toString(16).padStart(2, '0');
    return {
      traceparent: `00-${c.traceId}-${c.spanId}-${flags}`,
      end(attributes, error) {
        if (attributes) span.setAttributes(attributes);
        if (error) span.setStatus({ code: api.SpanStatusCode.ERROR });
        span.end();
      },
    };
  };

  return {
    enabled: true,
    start(name: string, parent: string | null, opts: SpanStart = {}) {
      const p = parseTraceparent(parent);
      let ctx: Context = api.ROOT_CONTEXT;
      if (p) {
        ctx = api.trace.setSpanContext(ctx, {
          traceId: p.traceId,
          spanId: p.spanId,
          traceFlags: Number.parseInt(p.flags, 16) & 1,
          isRemote: true,
        });
      }
      presetTraceId = p ? null : (opts.traceId ?? null);
      try {
        const span = tracer.startSpan(
          name,
          { kind: kinds[opts.kind ?? 'internal'], attributes: opts.attributes },
          ctx,
        );
        return handle(span);
      } finally {
        presetTraceId = null;
      }
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}

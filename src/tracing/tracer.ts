// Spans, when OpenTelemetry export is on (src/tracing/otel.ts); otherwise nothing is
// created at all. Herald passes trace contexts explicitly (a traceparent string on the
// request, the outbox row, the bus frame), so no async-context machinery is needed.

export type SpanKind = 'server' | 'internal' | 'producer' | 'consumer';

export type Attributes = Record<string, string | number | boolean>;

export interface SpanHandle {
  /** This span as a traceparent: what children (the next hop) are started from. */
  readonly traceparent: string;
  end(attributes?: Attributes, error?: boolean): void;
}

export interface SpanStart {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The trace to start in when there is no parent (Herald chose the id already). */
  traceId?: string;
}

export interface Tracing {
  readonly enabled: boolean;
  /** A span, child of `parent` (a traceparent) or the root of `opts.traceId`'s trace. */
  start(name: string, parent: string | null, opts?: SpanStart): SpanHandle | null;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export const noTracing: Tracing = {
  enabled: false,
  start: () => null,
  shutdown: async () => {},
};

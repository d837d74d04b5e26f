// Gateway metrics (DESIGN §11): connections, handshake failures by reason,
// frames dropped by priority, slow-consumer closes. Always counted in
// process (snapshot() for tests and /metrics glue); optionally mirrored to a
// prom-client Registry and/or a callback.
import { Counter, Gauge, type Registry } from 'prom-client';

export type Priority = 'message' | 'inbox' | 'receipt' | 'presence' | 'typing';

export type HandshakeFailure =
  | 'draining'
  | 'rate_limited_ip'
  | 'rate_limited_user'
  | 'no_token'
  | 'auth_timeout'
  | 'unauthenticated'
  | 'token_expired'
  | 'origin'
  | 'version'
  | 'bad_path'
  | 'tenant_not_found'
  | 'too_many_connections'
  | 'internal';

export type MetricEvent =
  | { name: 'connection_opened'; transport: 'ws' | 'sse' }
  | { name: 'connection_closed'; transport: 'ws' | 'sse'; code: number }
  | { name: 'handshake_failed'; reason: HandshakeFailure }
  | { name: 'frame_dropped'; priority: Priority }
  /** discardedBytes: queued frames dropped so the close reason could go ahead of them. */
  | { name: 'slow_consumer'; discardedBytes: number }
  | { name: 'replay'; events: number };

export interface MetricsOptions {
  /** A prom-client registry to register herald_gateway_* metrics on. */
  registry?: Registry;
  /** Called for every metric event (e.g. to forward to another system). */
  onMetric?: (event: MetricEvent) => void;
}

export interface MetricsSnapshot {
  connections: number;
  connects: number;
  disconnects: Record<string, number>;
  handshakeFailures: Partial<Record<HandshakeFailure, number>>;
  framesDropped: Partial<Record<Priority, number>>;
  slowConsumers: number;
  /** Bytes of queued frames dropped by slow-consumer cuts (the clients resume them by seq). */
  slowConsumerDiscardedBytes: number;
  replayedEvents: number;
}

export class GatewayMetrics {
  private readonly s: MetricsSnapshot = {
    connections: 0,
    connects: 0,
    disconnects: {},
    handshakeFailures: {},
    framesDropped: {},
    slowConsumers: 0,
    slowConsumerDiscardedBytes: 0,
    replayedEvents: 0,
  };
  private readonly prom?: {
    connections: Gauge<'transport'>;
    connects: Counter<'transport'>;
    disconnects: Counter<'transport' | 'code'>;
    handshakeFailures: Counter<'reason'>;
    dropped: Counter<'priority'>;
    slow: Counter;
    discarded: Counter;
    replayed: Counter;
  };

  constructor(private readonly opts: MetricsOptions = {}) {
    const registers = opts.registry ? [opts.registry] : [];
    if (opts.registry) {
      this.prom = {
        connections: new Gauge({
          name: 'herald_gateway_connections',
          help: 'Open client connections.',
          labelNames: ['transport'],
          registers,
        }),
        connects: new Counter({
          name: 'herald_gateway_connects_total',
          help: 'Accepted connections.',
          labelNames: ['transport'],
          registers,
        }),
        disconnects: new Counter({
          name: 'herald_gateway_disconnects_total',
          help: 'Closed connections by close code.',
          labelNames: ['transport', 'code'],
          registers,
        }),
        handshakeFailures: new Counter({
          name: 'herald_gateway_handshake_failures_total',
          help: 'Refused handshakes by reason.',
          labelNames: ['reason'],
          registers,
        }),
        dropped: new Counter({
          name: 'herald_gateway_frames_dropped_total',
          help: 'Frames shed under backpressure, by priority.',
          labelNames: ['priority'],
          registers,
        }),
        slow: new Counter({
          name: 'herald_gateway_slow_consumers_total',
          help: 'Connections cut for passing the hard mark or stalling a replay.',
          registers,
        }),
        discarded: new Counter({
          name: 'herald_gateway_slow_consumer_discarded_bytes_total',
          help: 'Queued bytes dropped when slow consumers were cut (resumed by seq).',
          registers,
        }),
        replayed: new Counter({
          name: 'herald_gateway_replayed_events_total',
          help: 'Events replayed on subscribe.',
          registers,
        }),
      };
    }
  }

  record(e: MetricEvent): void {
    const s = this.s;
    switch (e.name) {
      case 'connection_opened':
        s.connections++;
        s.connects++;
        this.prom?.connections.inc({ transport: e.transport });
        this.prom?.connects.inc({ transport: e.transport });
        break;
      case 'connection_closed':
        s.connections--;
        s.disconnects[e.code] = (s.disconnects[e.code] ?? 0) + 1;
        this.prom?.connections.dec({ transport: e.transport });
        this.prom?.disconnects.inc({ transport: e.transport, code: String(e.code) });
        break;
      case 'handshake_failed':
        s.handshakeFailures[e.reason] = (s.handshakeFailures[e.reason] ?? 0) + 1;
        this.prom?.handshakeFailures.inc({ reason: e.reason });
        break;
      case 'frame_dropped':
        s.framesDropped[e.priority] = (s.framesDropped[e.priority] ?? 0) + 1;
        this.prom?.dropped.inc({ priority: e.priority });
        break;
      case 'slow_consumer':
        s.slowConsumers++;
        s.slowConsumerDiscardedBytes += e.discardedBytes;
        this.prom?.slow.inc();
        this.prom?.discarded.inc(e.discardedBytes);
        break;
      case 'replay':
        s.replayedEvents += e.events;
        this.prom?.replayed.inc(e.events);
        break;
    }
    this.opts.onMetric?.(e);
  }

  snapshot(): MetricsSnapshot {
    return structuredClone(this.s);
  }
}

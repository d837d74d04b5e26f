// Gateway metrics (DESIGN §11): connections, handshake failures by reason,
// frames dropped or coalesced by priority, slow-consumer closes, catch-ups,
// publish → send latency and per-socket queue depth. Always counted in
// process (snapshot() for tests and /metrics glue); optionally mirrored to a
// prom-client Registry and/or a callback.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

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
  /** Shed under backpressure: never sent (typing). */
  | { name: 'frame_dropped'; priority: Priority }
  /** Held under backpressure and merged into the latest one per key (receipts, presence). */
  | { name: 'frame_coalesced'; priority: Priority }
  /** discardedBytes: queued frames dropped so the close reason could go ahead of them. */
  | { name: 'slow_consumer'; discardedBytes: number }
  | { name: 'replay'; events: number }
  /**
   * A catch-up from the store: a subscribe with since_seq (replay), or a resync after the bus
   * lost messages. `events` read, `seconds` from the first read to the last frame queued.
   */
  | { name: 'catchup'; kind: CatchupKind; events: number; seconds: number }
  /**
   * A frame from the outbox relay reached this node's sockets: `seconds` from the relay's
   * publish to the write (once per frame per node, not per socket).
   */
  | { name: 'delivered'; seconds: number };

export type CatchupKind = 'subscribe' | 'resync';

/** What the queue-depth sample reads at each scrape: every open connection's queued bytes. */
export type QueueSource = () => Iterable<number>;

/** Queue sizes the per-socket histogram counts in (bytes; the soft mark is 256 KiB by default). */
const QUEUE_BUCKETS = [0, 1024, 16_384, 65_536, 262_144, 1_048_576, 4_194_304];
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
const CATCHUP_EVENT_BUCKETS = [0, 1, 10, 50, 100, 500, 1000, 5000];

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
  framesCoalesced: Partial<Record<Priority, number>>;
  catchups: Partial<Record<CatchupKind, { count: number; events: number }>>;
  /** Frames observed by the publish → send histogram. */
  delivered: number;
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
    framesCoalesced: {},
    catchups: {},
    delivered: 0,
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
    coalesced: Counter<'priority'>;
    catchupEvents: Histogram<'kind'>;
    catchupSeconds: Histogram<'kind'>;
    publishToSend: Histogram;
    queues: Histogram;
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
        coalesced: new Counter({
          name: 'herald_gateway_frames_coalesced_total',
          help: 'Frames held under backpressure and merged into the latest per key (receipts, presence), by priority.',
          labelNames: ['priority'],
          registers,
        }),
        catchupEvents: new Histogram({
          name: 'herald_gateway_catchup_events',
          help: 'Events read from the store per catch-up (subscribe with since_seq, or resync after a bus loss).',
          labelNames: ['kind'],
          buckets: CATCHUP_EVENT_BUCKETS,
          registers,
        }),
        catchupSeconds: new Histogram({
          name: 'herald_gateway_catchup_duration_seconds',
          help: 'Duration of a catch-up, from the first store read to the last frame queued.',
          labelNames: ['kind'],
          buckets: LATENCY_BUCKETS,
          registers,
        }),
        publishToSend: new Histogram({
          name: 'herald_gateway_publish_to_send_seconds',
          help: "Time from the relay's publish to this node's socket writes, once per frame per node.",
          buckets: LATENCY_BUCKETS,
          registers,
        }),
        queues: new Histogram({
          name: 'herald_gateway_socket_queue_bytes',
          help: 'Outbound queue size of every open connection, sampled at each scrape (a snapshot: do not rate() it).',
          buckets: QUEUE_BUCKETS,
          registers,
          collect: () => this.sampleQueues(),
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
      case 'frame_coalesced':
        s.framesCoalesced[e.priority] = (s.framesCoalesced[e.priority] ?? 0) + 1;
        this.prom?.coalesced.inc({ priority: e.priority });
        break;
      case 'catchup': {
        const c = s.catchups[e.kind] ?? { count: 0, events: 0 };
        s.catchups[e.kind] = c;
        c.count++;
        c.events += e.events;
        this.prom?.catchupEvents.observe({ kind: e.kind }, e.events);
        this.prom?.catchupSeconds.observe({ kind: e.kind }, e.seconds);
        break;
      }
      case 'delivered':
        s.delivered++;
        this.prom?.publishToSend.observe(e.seconds);
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

  /** Where the per-socket queue histogram reads its sample (the gateway's open connections). */
  watchQueues(source: QueueSource): void {
    this.queueSource = source;
  }

  private queueSource: QueueSource = () => [];

  /** At scrape time only: walks the connections once, never on the delivery path. */
  private sampleQueues(): void {
    const h = this.prom?.queues;
    if (!h) return;
    h.reset();
    for (const bytes of this.queueSource()) h.observe(bytes);
  }

  snapshot(): MetricsSnapshot {
    return structuredClone(this.s);
  }
}

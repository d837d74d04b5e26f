// The host: wires store, bus, relay, auth and the HTTP app into one
// process. Host-level loops start here, not in any endpoint. The app is
// built but not listening: serve() listens. The gateway is attached to
// `app.server` (WebSocket upgrades) and its SSE route is an app plugin; the
// demo page is served when config.demo is on.
import type { Registry } from 'prom-client';
import { type ApiPlugin, buildApi } from '../api/app.ts';
import type { App } from '../api/context.ts';
import { Lifecycle } from '../api/lifecycle.ts';
import { createMetricsRegistry, readinessGauge, relayLagGauge, relayMetrics } from '../api/metrics.ts';
import { ApiKeyLimiter, SendLimiter } from '../api/rate-limit.ts';
import { gatewayRefusal, refuseUpgrade } from '../api/roles.ts';
import { Auth } from '../auth/service.ts';
import type { Bus } from '../bus/port.ts';
import type { Config } from '../config.ts';
import { demoPlugin } from '../demo/plugin.ts';
import { ensureDemo } from '../demo/seed.ts';
import type { DomainDeps } from '../domain/commands.ts';
import { defaultBatcherOptions } from '../domain/send-batcher.ts';
import { createGateway, type Gateway, sseRoutes } from '../gateway/index.ts';
import { countRefusals, limiterFallbackReporter } from '../limits/metrics.ts';
import { createPush, type Push } from '../push/index.ts';
import { OutboxRelay } from '../relay/outbox-relay.ts';
import type { Db } from '../store/db.ts';
import { openStore } from '../store/open.ts';
import { pgStore } from '../store/pg/index.ts';
import { traceIdOf } from '../tracing/context.ts';
import { createOtelTracing } from '../tracing/otel.ts';
import { noTracing, type Tracing } from '../tracing/tracer.ts';
import { AddressPolicy, type Resolver } from '../webhooks/address-policy.ts';
import { WebhookDispatcher } from '../webhooks/dispatcher.ts';
import { webhookMetrics } from '../webhooks/metrics.ts';
import { type Adapters, createAdapters } from './adapters.ts';
import { createLogger, type Logger } from './logger.ts';

/** How long close() lets in-flight HTTP requests finish before cutting their connections. */
const HTTP_CLOSE_BOUND_MS = 2_000;

export interface Herald {
  config: Config;
  db: Db;
  bus: Bus;
  relay: OutboxRelay;
  /** Sends committed webhook deliveries (host-level, like the relay). */
  webhooks: WebhookDispatcher;
  /** Offline push: devices' providers and the dispatcher (host-level, like the relay). */
  push: Push;
  deps: DomainDeps;
  log: Logger;
  auth: Auth;
  /** Spans for OpenTelemetry export (noTracing unless an OTLP endpoint is set). */
  tracing: Tracing;
  /** Prometheus registry served at /metrics; add the gateway's metrics here. */
  metrics: Registry;
  /** The HTTP app (Fastify). Not listening until serve() or app.listen(). */
  app: App;
  /** The WebSocket gateway, attached to app.server; SSE is served by the app. */
  gateway: Gateway;
  /** Bus, registries and presence: in-process, or Redis when REDIS_URL is set. */
  adapters: Adapters;
  /** The per-user send limit shared by the HTTP API and the gateway. */
  sendLimiter: SendLimiter;
  /** Running, draining (SIGTERM: /readyz answers 503) or closing. */
  lifecycle: Lifecycle;
  /** Set on the first start that created the demo tenant: its API key, shown once. */
  demo: { apiKey: string; conversation: string } | null;
  close(): Promise<void>;
}

export interface StartOptions {
  db?: Db;
  log?: Logger;
  /** Registered into the app after Herald's routes (e.g. the demo page). */
  plugins?: ApiPlugin[];
  /** Told what a slow start is doing (the first start of an embedded store). */
  progress?: (line: string) => void;
  /** Resolves webhook host names (default: the system resolver); tests stub it. */
  webhookResolver?: Resolver;
}

export async function startHerald(config: Config, opts: StartOptions = {}): Promise<Herald> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db =
    opts.db ??
    (await openStore({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      progress: opts.progress,
      // Lost connections are recovered from (requests meanwhile get STORE_UNAVAILABLE).
      onError: (err) => log.warn({ err }, 'store connection error'),
      // Another process took the embedded data directory over: writing on would corrupt it.
      onLockLost: (err) => {
        log.fatal({ err, dataDir: config.dataDir }, 'lost the lock on HERALD_DATA_DIR; exiting');
        process.exit(1);
      },
    }));
  const metrics = createMetricsRegistry();
  // OpenTelemetry export only when an OTLP endpoint is configured: otherwise not even loaded.
  const tracing = config.tracing ? await createOtelTracing(config.tracing) : noTracing;
  const adapters = createAdapters({
    redisUrl: config.redisUrl,
    redisPrefix: config.redisPrefix,
    presenceWindowMs: config.gateway.presenceWindowMs,
    onError: (err) => log.warn({ err }, 'redis error'),
    onLimiterFallback: limiterFallbackReporter(metrics, log),
  });
  const { bus } = adapters;
  // Every limiter counts its refusals (herald_rate_limited_total{limit}).
  const limiters = countRefusals(adapters.limiters, metrics);
  relayLagGauge(metrics, db);
  readinessGauge(metrics, db, adapters.healthy);
  // On a PostgreSQL server the sends' group commits have connections of their own (one per
  // batch in flight), so a burst of reads — 10,000 clients resubscribing after a network
  // blip — queues in the shared pool and not in front of other users' sends.
  const sendDb =
    config.databaseUrl && !opts.db
      ? await openStore({
          databaseUrl: config.databaseUrl,
          dataDir: config.dataDir,
          migrate: false,
          maxConnections: defaultBatcherOptions.maxInFlight,
          onError: (err) => log.warn({ err }, 'send store connection error'),
        })
      : db;
  const deps: DomainDeps = {
    db,
    ...(sendDb !== db ? { sendDb } : {}),
    ...pgStore,
    limits: config.limits,
    viewing: adapters.viewing,
  };
  const auth = await Auth.create(db, config);
  const demo = config.demo ? await ensureDemo(deps, auth) : null;
  // On a PostgreSQL server the relay has connections of its own, so its batches never queue
  // behind request handlers for the shared pool (PGlite is one in-process connection anyway).
  const relayDb =
    config.roles.relay && config.databaseUrl && !opts.db
      ? await openStore({
          databaseUrl: config.databaseUrl,
          dataDir: config.dataDir,
          migrate: false,
          maxConnections: 2,
          // A frozen relay must not hold its partitions (store/postgres.ts).
          idleInTransactionTimeoutMs: 5_000,
          onError: (err) => log.warn({ err }, 'relay store connection error'),
        })
      : db;
  const relay = new OutboxRelay({
    db: relayDb,
    bus,
    pollMs: config.relayPollMs,
    onError: (err) => log.warn({ err }, 'outbox relay error'),
    onPublished: relayPublished(metrics, log),
    tracing,
  });
  // Host-level loops (the relay, the webhook dispatcher) run on relay nodes (HERALD_ROLES);
  // the others leave the outbox and the delivery streams to them.
  if (config.roles.relay) await relay.start();
  const webhookPolicy = new AddressPolicy(config.webhooks.allowHosts, opts.webhookResolver);
  const webhooks = new WebhookDispatcher({
    db,
    config: config.webhooks,
    policy: webhookPolicy,
    onError: (err) => log.warn({ err }, 'webhook dispatcher error'),
    onDisabled: (e) => log.warn(e, 'webhook endpoint disabled: every attempt failed for the retry window'),
    onAttempt: webhookMetrics(metrics),
  });
  if (config.roles.relay) await webhooks.start();
  const push = await createPush({
    db,
    config,
    policy: webhookPolicy,
    connections: adapters.connections,
    metrics,
    onError: (err) => log.warn({ err }, 'push dispatcher error'),
  });
  if (config.roles.relay) await push.dispatcher.start();
  const host = {
    config,
    db,
    bus,
    relay,
    webhooks,
    webhookPolicy,
    push,
    deps,
    log,
    auth,
    metrics,
    demo,
    infraHealthy: adapters.healthy,
    lifecycle: new Lifecycle(),
    tracing,
  };
  // The SSE route needs the gateway, which needs the app's server: a getter breaks the cycle.
  let gateway: Gateway | null = null;
  const sse: ApiPlugin = config.roles.gateway
    ? async (app) => sseRoutes(app, { gateway: () => gateway as Gateway })
    : async (app) => {
        app.get('/v1/sse', { schema: { hide: true } }, async () => {
          throw gatewayRefusal(config.roles);
        });
      };
  const demoPage: ApiPlugin[] = config.demo ? [demoPlugin] : [];
  // One per-user send budget for POST …/messages and WebSocket `send` frames alike (and,
  // with Redis, for every node).
  const sendLimiter = new SendLimiter(limiters.window('send', config.http.sendRate), config.http.sendRate);
  const apiKeyLimiter = new ApiKeyLimiter(limiters.window('api_key', config.http.apiKeyRate));
  const app = await buildApi(host, {
    plugins: [sse, ...demoPage, ...(opts.plugins ?? [])],
    sendLimiter,
    apiKeyLimiter,
  });
  gateway = createGateway({
    deps,
    bus,
    sendLimiter,
    tokens: { verify: (t) => auth.authenticate(t) },
    log,
    metrics: { registry: metrics },
    tracing,
    presence: adapters.presence,
    connections: adapters.connections,
    typing: adapters.typing,
    pingIntervalMs: config.gateway.pingIntervalMs,
    drainGraceMs: config.gateway.drainGraceMs,
    handshakeRatePerIp: config.gateway.handshakesPerIp,
    handshakeRatePerUser: config.gateway.handshakesPerUser,
    limiters,
    socketSlots: adapters.socketSlots,
    maxSocketsPerUser: config.gateway.maxSocketsPerUser,
    maxSocketsPerTenant: config.gateway.maxSocketsPerTenant,
  });
  if (config.roles.gateway) gateway.attach(app.server);
  else app.server.on('upgrade', (_req, socket) => refuseUpgrade(socket, config.roles));
  return {
    ...host,
    app,
    gateway,
    adapters,
    sendLimiter,
    async close() {
      // Each step is logged (debug): a slow stop shows which part held it.
      const step = async (what: string, fn: () => Promise<unknown>) => {
        const at = Date.now();
        await fn();
        log.debug({ ms: Date.now() - at }, `closed ${what}`);
      };
      host.lifecycle.closing();
      await step('gateway', () => gateway.close());
      await step('http server', async () => {
        const closed = app.close();
        // Fastify closes idle keep-alive connections once, when close starts: one whose request
        // was still running would then sit idle for keepAliveTimeout (72 s) and hold the exit.
        // Close each as it goes idle; past a bound, cut what is left.
        const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
        const cut = setTimeout(() => app.server.closeAllConnections(), HTTP_CLOSE_BOUND_MS);
        try {
          await closed;
        } finally {
          clearInterval(sweep);
          clearTimeout(cut);
        }
      });
      await step('relay', () => relay.stop());
      await step('webhooks', () => webhooks.stop());
      await step('push', () => push.dispatcher.stop());
      await step('redis', () => adapters.close());
      if (relayDb !== db) await step('relay store', () => relayDb.close());
      if (sendDb !== db) await step('send store', () => sendDb.close());
      if (!opts.db) await step('store', () => db.close());
      await step('trace export', () =>
        tracing.shutdown().catch((err) => log.warn({ err }, 'trace export failed')),
      );
    },
  };
}

/** Relay metrics per published row, and a debug line naming its trace (the trace's relay hop). */
function relayPublished(
  metrics: Registry,
  log: Logger,
): (row: { id: number; topic: string; created_at: Date; trace_id: string | null }) => void {
  const count = relayMetrics(metrics);
  return (row) => {
    count(row);
    if (row.trace_id && log.isLevelEnabled('debug'))
      log.debug(
        { trace_id: traceIdOf(row.trace_id), topic: row.topic, outbox_id: row.id },
        'relay published',
      );
  };
}

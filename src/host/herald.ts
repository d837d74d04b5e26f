// The host: wires store, bus, relay, auth and the HTTP app into one
// process. Host-level loops start here, not in any endpoint. The app is
// built but not listening: serve() listens; plugins (the gateway's SSE
// route) come in through `plugins`, and `app.server` exists from the start
// for WebSocket upgrades.
import type { Registry } from 'prom-client';
import { type ApiPlugin, buildApi } from '../api/app.ts';
import type { App } from '../api/context.ts';
import { createMetricsRegistry, relayMetrics } from '../api/metrics.ts';
import { Auth } from '../auth/service.ts';
import { memoryBus } from '../bus/memory.ts';
import type { Bus } from '../bus/port.ts';
import type { Config } from '../config.ts';
import type { DomainDeps } from '../domain/commands.ts';
import { memoryViewing } from '../registry/memory-viewing.ts';
import { OutboxRelay } from '../relay/outbox-relay.ts';
import type { Db } from '../store/db.ts';
import { openStore } from '../store/open.ts';
import { ensureDemo } from './demo.ts';
import { createLogger, type Logger } from './logger.ts';

export interface Herald {
  config: Config;
  db: Db;
  bus: Bus;
  relay: OutboxRelay;
  deps: DomainDeps;
  log: Logger;
  auth: Auth;
  /** Prometheus registry served at /metrics; add the gateway's metrics here. */
  metrics: Registry;
  /** The HTTP app (Fastify). Not listening until serve() or app.listen(). */
  app: App;
  /** Set on the first start that created the demo tenant: its API key, shown once. */
  demo: { apiKey: string; conversation: string } | null;
  close(): Promise<void>;
}

export interface StartOptions {
  db?: Db;
  bus?: Bus;
  log?: Logger;
  /** Registered into the app after Herald's routes (e.g. the gateway's SSE route). */
  plugins?: ApiPlugin[];
}

export async function startHerald(config: Config, opts: StartOptions = {}): Promise<Herald> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db = opts.db ?? (await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const bus = opts.bus ?? memoryBus();
  const viewing = memoryViewing();
  const deps: DomainDeps = { db, limits: config.limits, viewing };
  const auth = await Auth.create(db, config);
  const metrics = createMetricsRegistry();
  const demo = config.demo ? await ensureDemo(deps, auth) : null;
  const relay = new OutboxRelay({
    db,
    bus,
    pollMs: config.relayPollMs,
    onError: (err) => log.warn({ err }, 'outbox relay error'),
    onPublished: relayMetrics(metrics),
  });
  await relay.start();
  const host = { config, db, bus, relay, deps, log, auth, metrics, demo };
  const app = await buildApi(host, { plugins: opts.plugins });
  return {
    ...host,
    app,
    async close() {
      await app.close();
      await relay.stop();
      if (!opts.bus) await bus.close();
      if (!opts.db) await db.close();
    },
  };
}

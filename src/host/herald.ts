// The host: wires store, bus, relay (and, as they land, HTTP and gateway)
// into one process. Host-level loops start here, not in any endpoint.
import { memoryBus } from '../bus/memory.ts';
import type { Bus } from '../bus/port.ts';
import type { Config } from '../config.ts';
import type { DomainDeps } from '../domain/commands.ts';
import { OutboxRelay } from '../relay/outbox-relay.ts';
import type { Db } from '../store/db.ts';
import { openStore } from '../store/open.ts';
import { memoryViewing } from '../registry/memory-viewing.ts';
import { createLogger, type Logger } from './logger.ts';

export interface Herald {
  config: Config;
  db: Db;
  bus: Bus;
  relay: OutboxRelay;
  deps: DomainDeps;
  log: Logger;
  close(): Promise<void>;
}

export async function startHerald(config: Config, opts: { db?: Db; bus?: Bus; log?: Logger } = {}): Promise<Herald> {
  const log = opts.log ?? createLogger(config.logLevel);
  const db = opts.db ?? (await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const bus = opts.bus ?? memoryBus();
  const viewing = memoryViewing();
  const deps: DomainDeps = { db, limits: config.limits, viewing };
  const relay = new OutboxRelay({
    db,
    bus,
    pollMs: config.relayPollMs,
    onError: (err) => log.warn({ err }, 'outbox relay error'),
  });
  await relay.start();
  return {
    config,
    db,
    bus,
    relay,
    deps,
    log,
    async close() {
      await relay.stop();
      if (!opts.bus) await bus.close();
      if (!opts.db) await db.close();
    },
  };
}

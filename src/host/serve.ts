import os from 'node:os';
import { describeRoles } from '../api/roles.ts';
import type { Config } from '../config.ts';
import { DEMO_TENANT } from '../demo/seed.ts';
import { ensureDatabase } from '../store/create-database.ts';
import { startHerald } from './herald.ts';
import type { Logger } from './logger.ts';

/** What closing takes at most after the drain (sockets, HTTP server, relay, Redis, store). */
const CLOSE_BOUND_MS = 5_000;

/** Runs a node until SIGTERM/SIGINT. `progress` hears what a start is doing, line by line. */
export async function serve(
  config: Config,
  log: Logger,
  opts: { progress?: (line: string) => void } = {},
): Promise<void> {
  const started = Date.now();
  const progress = opts.progress ?? (() => {});
  if (config.databaseUrl) {
    if (await ensureDatabase(config.databaseUrl)) progress('created the database named in DATABASE_URL');
  } else {
    progress(`opening the embedded store in ${config.dataDir}`);
  }
  const herald = await startHerald(config, { log, progress });
  // A deep accept queue: a reconnect storm must not fall into TCP's 1/3/7 s SYN retries.
  const address = await herald.app.listen({ port: config.port, host: config.host, backlog: 4096 });
  const shown =
    config.host === '0.0.0.0' || config.host === '::' ? `http://localhost:${config.port}` : address;
  log.info(
    {
      url: shown,
      store: herald.db.kind,
      bus: herald.bus.kind,
      roles: describeRoles(config.roles),
      dataDir: config.databaseUrl ? undefined : config.dataDir,
    },
    `herald listening on ${shown}`,
  );
  progress(
    `ready on ${shown} in ${((Date.now() - started) / 1000).toFixed(1)} s (roles ${describeRoles(config.roles)})`,
  );
  if (herald.demo) {
    // Printed once, on the start that created the demo tenant: only the key's hash is stored.
    process.stdout.write(
      [
        '',
        `Demo tenant "${DEMO_TENANT}" created (users alice, bob, carol; group "Demo").`,
        config.demo ? `  Chat now: open ${shown}/ in two browser tabs (alice in one, bob in the other).` : '',
        `  API key (shown once, keep it): ${herald.demo.apiKey}`,
        '  Get a token for alice:',
        `    curl -s -X POST ${shown}/v1/tokens -H 'Authorization: Bearer ${herald.demo.apiKey}' \\`,
        `         -H 'Content-Type: application/json' -d '{"user_id":"alice"}'`,
        config.devTokens
          ? `  or, dev only: curl -s -X POST ${shown}/v1/dev/tokens -H 'Content-Type: application/json' -d '{"user_id":"alice"}'`
          : '',
        '',
      ].join('\n'),
    );
  }
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C (or SIGTERM) means "now": the drain is cut short.
      log.warn({ signal }, 'stopping now, without waiting for clients');
      process.exit(128 + (os.constants.signals[signal] ?? 0));
    }
    stopping = true;
    const graceMs = config.gateway.drainGraceMs;
    const connections = herald.gateway.connectionCount;
    log.info({ signal, connections, graceMs }, 'stopping');
    if (connections > 0)
      progress(
        `${signal}: draining ${connections} connection${connections === 1 ? '' : 's'} for up to ` +
          `${(graceMs / 1000).toFixed(1)} s (HERALD_DRAIN_GRACE_MS); ${signal} again to stop now`,
      );
    // A close that hangs (a store or Redis that stopped answering) must not keep a deploy
    // waiting: past the grace and a bounded close, the node exits anyway.
    setTimeout(() => {
      log.error({ signal }, `did not stop within ${graceMs + CLOSE_BOUND_MS} ms; exiting`);
      process.exit(1);
    }, graceMs + CLOSE_BOUND_MS).unref();
    // Deploys: stop accepting, tell every socket when to come back (jittered over the grace),
    // close each at its time, then close the rest; a node whose clients have left goes at once.
    const stopAt = Date.now();
    herald.lifecycle.drain(signal, graceMs);
    await herald.gateway.drain();
    log.debug({ ms: Date.now() - stopAt }, 'drained');
    const drainedAt = Date.now();
    await herald.close();
    log.info({ drainMs: drainedAt - stopAt, closeMs: Date.now() - drainedAt }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

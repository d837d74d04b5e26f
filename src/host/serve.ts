import type { Config } from '../config.ts';
import { ensureDatabase } from '../store/create-database.ts';
import { DEMO_TENANT } from './demo.ts';
import { startHerald } from './herald.ts';
import type { Logger } from './logger.ts';

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
      dataDir: config.databaseUrl ? undefined : config.dataDir,
    },
    `herald listening on ${shown}`,
  );
  progress(`ready on ${shown} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    // Deploys: stop accepting, tell every socket when to come back (jittered), then close.
    await herald.gateway.drain();
    await herald.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

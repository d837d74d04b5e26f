import type { Config } from '../config.ts';
import { startHerald } from './herald.ts';
import type { Logger } from './logger.ts';

/** Runs a node until SIGTERM/SIGINT. */
export async function serve(config: Config, log: Logger): Promise<void> {
  const herald = await startHerald(config, { log });
  log.info(
    { store: herald.db.kind, bus: herald.bus.kind, dataDir: config.databaseUrl ? undefined : config.dataDir },
    'herald node started',
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await herald.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

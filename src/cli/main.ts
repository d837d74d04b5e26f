// The `herald` command: `herald serve`, `herald migrate`, `herald reconcile`.
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config.ts';
import { createLogger } from '../host/logger.ts';
import { migrate } from '../store/migrate.ts';
import { openStore } from '../store/open.ts';
import { registerReconcile } from './reconcile.ts';

const program = new Command('herald').description('Herald real-time messaging node');

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .action(async () => {
    const config = loadConfig();
    const db = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, migrate: false });
    const applied = await migrate(db);
    await db.close();
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'up to date\n');
  });

program
  .command('serve')
  .description('run a Herald node (embedded store unless DATABASE_URL is set)')
  .action(async () => {
    const config = loadConfig();
    const log = createLogger(config.logLevel);
    const { serve } = await import('../host/serve.ts');
    await serve(config, log);
  });

registerReconcile(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`herald: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`herald: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

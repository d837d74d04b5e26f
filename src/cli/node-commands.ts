// Running a node and preparing its store: serve, migrate, setup.
import type { Command } from 'commander';
import { loadConfig, parseRoles, ROLES } from '../config.ts';
import { createLogger } from '../host/logger.ts';
import { ensureDatabase } from '../store/create-database.ts';
import { migrate } from '../store/migrate.ts';
import { openStore } from '../store/open.ts';
import { ensureTemplate, templateDir } from '../store/pglite-template.ts';

const say = (line: string) => process.stdout.write(`herald: ${line}\n`);

export function registerNodeCommands(program: Command): void {
  program
    .command('serve')
    .description(
      'run a Herald node: the HTTP API, the WebSocket/SSE gateway and the outbox relay ' +
        '(embedded PostgreSQL in HERALD_DATA_DIR unless DATABASE_URL is set; migrates the store on start)',
    )
    .option(
      '--roles <roles>',
      `what this node runs, comma-separated from ${ROLES.join(', ')}: api = the HTTP API, gateway = ` +
        'WebSocket and SSE, relay = the outbox relay (default: HERALD_ROLES, else all); ' +
        '/healthz, /readyz and /metrics are served by every role',
    )
    .action(async (opts: { roles?: string }) => {
      const config = loadConfig();
      if (opts.roles !== undefined) config.roles = parseRoles(opts.roles, '--roles');
      const log = createLogger(config.logLevel);
      const { serve } = await import('../host/serve.ts');
      await serve(config, log, { progress: say });
    });

  program
    .command('migrate')
    .description(
      'apply pending database migrations and exit (creates the DATABASE_URL database when it is missing ' +
        'and the user may; `serve` also migrates on start)',
    )
    .action(async () => {
      const config = loadConfig();
      if (config.databaseUrl && (await ensureDatabase(config.databaseUrl)))
        say(`created database ${new URL(config.databaseUrl).pathname.slice(1)}`);
      const db = await openStore({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        migrate: false,
        progress: say,
      });
      try {
        const applied = await migrate(db);
        say(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
      } finally {
        await db.close();
      }
    });

  program
    .command('setup')
    .description(
      'prepare this install: create the embedded PostgreSQL template, so that a first start takes ' +
        'seconds, not an initdb (npm runs it on install)',
    )
    .action(async () => {
      const started = Date.now();
      const created = await ensureTemplate();
      say(
        created
          ? `embedded store template created in ${((Date.now() - started) / 1000).toFixed(1)} s (${templateDir()})`
          : `embedded store template is ready (${templateDir()})`,
      );
    });
}

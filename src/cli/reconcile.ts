// `herald reconcile`: the operator's view of src/domain/reconcile.ts — argument rules, opening
// the configured store, a readable or JSON report, and exit codes a script can branch on.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type Config, loadConfig } from '../config.ts';
import { reconcile, type TenantReport } from '../domain/reconcile.ts';
import { HeraldError } from '../protocol/index.ts';
import type { Db } from '../store/db.ts';
import { openStore } from '../store/open.ts';
import { pgReconcile } from '../store/pg/reconcile.ts';

/** Exit codes: a script runs it without --fix and alerts on 1. */
export const RECONCILE_EXIT = { clean: 0, drift: 1, usage: 2 } as const;

const HELP_AFTER = `
Checks every inbox entry of the tenant(s) against the committed log: the read marker
(never beyond the conversation head), unread_count and mention_count (recounted, capped
at 999 like the write path; large channels derive unread from seqs, so only their mention
counts are compared). Without --fix nothing is written. With --fix drifted entries are
rewritten page by page (one short transaction each), get a new version and an \`inbox\`
frame through the outbox, so connected clients correct their badges. Safe while nodes
serve sends on PostgreSQL (DATABASE_URL).

The embedded store (HERALD_DATA_DIR, no DATABASE_URL) is used by one process at a time:
stop the node first.

Exit codes:
  0  no drift (or every drifted entry repaired with --fix)
  1  drift found (without --fix)
  2  usage, configuration or store error (nothing is left half-written: each page commits
     on its own)

Examples:
  DATABASE_URL=postgres://… herald reconcile --all
  herald reconcile --tenant acme --fix --json`;

class UsageError extends Error {}

export function registerReconcile(program: Command): void {
  program
    .command('reconcile')
    .description('recount inbox unread/mention counters from the log; report drift, repair with --fix')
    .addOption(new Option('--tenant <id>', 'reconcile one tenant').conflicts('all'))
    .addOption(new Option('--all', 'reconcile every tenant'))
    .option('--fix', 'repair drifted entries (bumps their version, sends an inbox frame)')
    .option('--json', 'print the report as JSON')
    .addOption(
      new Option('--batch-size <n>', 'entries per page and per repair transaction')
        .default(500)
        .argParser((raw) => {
          const n = Number(raw);
          if (!Number.isInteger(n) || n < 1 || n > 10_000)
            throw new InvalidArgumentError('an integer 1–10000 is expected.');
          return n;
        }),
    )
    .addHelpText('after', HELP_AFTER)
    // Commander exits with 1 on a bad flag; 1 means "drift" here, so usage errors exit 2.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : RECONCILE_EXIT.usage))
    .action(
      async (opts: { tenant?: string; all?: boolean; fix: boolean; json: boolean; batchSize: number }) => {
        process.exitCode = await run(opts);
      },
    );
}

interface Flags {
  tenant?: string;
  all?: boolean;
  fix?: boolean;
  json?: boolean;
  batchSize: number;
}

async function run(opts: Flags): Promise<number> {
  const fix = opts.fix === true;
  if (!opts.tenant && !opts.all) return usage('name a tenant (--tenant <id>) or pass --all');
  // Config errors (ConfigError) propagate to main's handler: message, exit 2.
  const config = loadConfig();
  let db: Db;
  try {
    db = await open(config);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, config);
    return fail(`cannot open the store: ${describe(err)}`, config, { opening: true });
  }
  try {
    const reports = await reconcile(
      { db, counters: pgReconcile, limits: config.limits },
      opts.all ? 'all' : [opts.tenant as string],
      { fix, batchSize: opts.batchSize },
    );
    const drifted = reports.reduce((n, r) => n + r.drifted, 0);
    process.stdout.write(opts.json ? `${JSON.stringify(toJson(reports, fix))}\n` : render(reports, fix));
    return drifted > 0 && !fix ? RECONCILE_EXIT.drift : RECONCILE_EXIT.clean;
  } catch (err) {
    if (err instanceof HeraldError) return fail(err.message, config);
    // 42P01: undefined table — a database Herald never migrated.
    if ((err as { code?: string }).code === '42P01')
      return fail('the database has no Herald schema: run `herald migrate` first', config);
    return fail(`reconcile failed: ${describe(err)}`, config);
  } finally {
    await db.close();
  }
}

async function open(config: Config): Promise<Db> {
  if (!config.databaseUrl) {
    // Opening a missing directory would create an empty store; say what is wrong instead.
    const dir = join(resolve(config.dataDir), 'pgdata');
    if (!existsSync(dir))
      throw new UsageError(
        `no embedded store in HERALD_DATA_DIR (${config.dataDir}): set HERALD_DATA_DIR to the node's data directory, or DATABASE_URL`,
      );
  }
  const db = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, migrate: false });
  // The pool connects lazily: an unreachable server or a wrong database shows here, as such.
  try {
    await db.query('SELECT 1');
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return db;
}

function usage(message: string): number {
  process.stderr.write(`herald reconcile: ${message} (see herald reconcile --help)\n`);
  return RECONCILE_EXIT.usage;
}

function fail(message: string, config: Config, o: { opening?: boolean } = {}): number {
  const where = config.databaseUrl
    ? 'the database in DATABASE_URL'
    : `the embedded store in HERALD_DATA_DIR (${config.dataDir})${o.opening ? ': if a node runs on it, stop the node first' : ''}`;
  process.stderr.write(`herald reconcile: ${message}\n  store: ${where}\n`);
  return RECONCILE_EXIT.usage;
}

function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describe(err.errors[0]);
  if (err instanceof Error) return err.message || (err as { code?: string }).code || err.name;
  return String(err);
}

function toJson(reports: TenantReport[], fix: boolean) {
  const sum = (k: 'checked' | 'drifted' | 'fixed') => reports.reduce((n, r) => n + r[k], 0);
  return { fix, checked: sum('checked'), drifted: sum('drifted'), fixed: sum('fixed'), tenants: reports };
}

function render(reports: TenantReport[], fix: boolean): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(
      `tenant ${r.tenant}: ${r.checked} entries checked, ${r.drifted} drifted${fix ? `, ${r.fixed} fixed` : ''}`,
    );
    for (const d of r.sample) {
      const changes = (['last_read_seq', 'unread_count', 'mention_count'] as const)
        .filter((k) => d.stored[k] !== d.recounted[k])
        .map((k) => `${k} ${d.stored[k]} -> ${d.recounted[k]}`);
      lines.push(`  ${d.user_id} in ${d.conversation_id}: ${changes.join(', ')}`);
    }
    if (r.drifted > r.sample.length) lines.push(`  … and ${r.drifted - r.sample.length} more`);
  }
  const drifted = reports.reduce((n, r) => n + r.drifted, 0);
  lines.push(
    drifted === 0
      ? `no drift in ${reports.length} tenant(s)`
      : fix
        ? `repaired: ${drifted} drifted entries`
        : `drift: ${drifted} entries (run again with --fix to repair)`,
  );
  return `${lines.join('\n')}\n`;
}

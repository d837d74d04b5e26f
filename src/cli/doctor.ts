// `herald doctor`: checks what a node needs before it starts, each finding with
// the fix. Exit 1 when a check fails; warnings do not fail.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import pg from 'pg';
import { type Config, loadConfig } from '../config.ts';
import { isInitialized, templateDir } from '../store/pglite-template.ts';

type Status = 'ok' | 'warn' | 'fail';
interface Finding {
  check: string;
  status: Status;
  detail: string;
  fix?: string;
}

const MIGRATIONS = new URL('../store/migrations/', import.meta.url);
const SKEW_WARN_MS = 1000;
const FD_WARN = 10_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not answer in ${ms} ms`)), ms).unref(),
    ),
  ]);
}

function skewFinding(check: string, remoteMs: number, localBefore: number, localAfter: number): Finding {
  const skew = Math.round(remoteMs - (localBefore + localAfter) / 2);
  return Math.abs(skew) <= SKEW_WARN_MS
    ? { check, status: 'ok', detail: `${skew} ms` }
    : {
        check,
        status: 'warn',
        detail: `${skew} ms: token expiry, presence and typing windows compare clocks across machines`,
        fix: 'synchronize the clocks (chrony or systemd-timesyncd)',
      };
}

async function checkPostgres(url: string): Promise<Finding[]> {
  const where = (() => {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  })();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    const code = (err as { code?: string }).code;
    return [
      code === '3D000'
        ? {
            check: 'PostgreSQL',
            status: 'fail',
            detail: `${where}: the database does not exist`,
            fix: 'herald migrate (creates it when the user may)',
          }
        : {
            check: 'PostgreSQL',
            status: 'fail',
            detail: `${where}: ${(err as Error).message}`,
            fix: 'start PostgreSQL or correct DATABASE_URL',
          },
    ];
  }
  try {
    const before = Date.now();
    const { rows } = await client.query<{ v: string; now: Date }>(
      "SELECT current_setting('server_version') AS v, now() AS now",
    );
    const after = Date.now();
    const out: Finding[] = [];
    const major = Number.parseInt(rows[0].v, 10);
    out.push(
      major >= 15
        ? { check: 'PostgreSQL', status: 'ok', detail: `${rows[0].v} at ${where}` }
        : {
            check: 'PostgreSQL',
            status: 'fail',
            detail: `${rows[0].v} at ${where}`,
            fix: 'use PostgreSQL 15 or newer',
          },
    );
    out.push(await pendingMigrations((sql) => client.query(sql).then((r) => r.rows as { name: string }[])));
    out.push(skewFinding('clock vs PostgreSQL', new Date(rows[0].now).getTime(), before, after));
    return out;
  } finally {
    await client.end().catch(() => {});
  }
}

async function pendingMigrations(query: (sql: string) => Promise<{ name: string }[]>): Promise<Finding> {
  const files = readdirSync(MIGRATIONS).filter((f) => f.endsWith('.sql'));
  const done = await query('SELECT name FROM schema_migrations').catch(() => [] as { name: string }[]);
  const pending = files.filter((f) => !done.some((d) => d.name === f));
  return pending.length === 0
    ? { check: 'migrations', status: 'ok', detail: `${files.length} applied` }
    : {
        check: 'migrations',
        status: 'warn',
        detail: `${pending.length} pending (${pending.join(', ')})`,
        fix: 'herald migrate (herald serve also applies them on start)',
      };
}

function checkEmbedded(config: Config): Finding[] {
  const dir = join(config.dataDir, 'pgdata');
  const out: Finding[] = [
    isInitialized(dir)
      ? { check: 'embedded store', status: 'ok', detail: `initialized in ${dir}` }
      : { check: 'embedded store', status: 'ok', detail: `${dir} will be created on the first start` },
  ];
  if (!isInitialized(dir))
    out.push(
      isInitialized(templateDir())
        ? { check: 'store template', status: 'ok', detail: 'ready: a first start copies it' }
        : {
            check: 'store template',
            status: 'warn',
            detail: 'missing: the first start runs an initdb (~10–15 s)',
            fix: 'herald setup',
          },
    );
  return out;
}

async function checkRedis(url: string): Promise<Finding[]> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3000,
  });
  redis.on('error', () => {});
  try {
    await withTimeout(redis.connect(), 3500, 'Redis');
    const before = Date.now();
    const [sec, micro] = (await redis.time()) as [string | number, string | number];
    const after = Date.now();
    const info = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    return [
      { check: 'Redis', status: 'ok', detail: `${version} at ${new URL(url).host}` },
      skewFinding('clock vs Redis', Number(sec) * 1000 + Number(micro) / 1000, before, after),
    ];
  } catch (err) {
    return [
      {
        check: 'Redis',
        status: 'fail',
        detail: `${new URL(url).host}: ${(err as Error).message}`,
        fix: 'start Redis or correct REDIS_URL (unset it for one node)',
      },
    ];
  } finally {
    redis.disconnect();
  }
}

function checkPort(config: Config): Promise<Finding> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve({
        check: 'port',
        status: 'fail',
        detail: `${config.host}:${config.port}: ${err.code === 'EADDRINUSE' ? 'in use (is a node already running?)' : err.message}`,
        fix: 'set PORT to a free port, or stop what listens there',
      }),
    );
    server.listen(config.port, config.host, () => {
      server.close(() =>
        resolve({ check: 'port', status: 'ok', detail: `${config.host}:${config.port} is free` }),
      );
    });
  });
}

function checkFileDescriptors(): Finding {
  let soft: number | null = null;
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const value = line?.split(/\s{2,}/)[1];
    soft = value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
  } catch {
    return { check: 'file descriptors', status: 'ok', detail: 'limit not readable on this system' };
  }
  return soft !== null && soft >= FD_WARN
    ? { check: 'file descriptors', status: 'ok', detail: `soft limit ${soft}` }
    : {
        check: 'file descriptors',
        status: 'warn',
        detail: `soft limit ${soft}: every socket is a file descriptor, so this caps connections per node`,
        fix: 'raise it before starting: ulimit -n 65536 (or LimitNOFILE= in the systemd unit)',
      };
}

function checkNode(): Finding {
  const major = Number(process.versions.node.split('.')[0]);
  return major >= 20
    ? { check: 'Node.js', status: 'ok', detail: process.versions.node }
    : { check: 'Node.js', status: 'fail', detail: process.versions.node, fix: 'use Node.js 20 or newer' };
}

export async function runDoctor(): Promise<Finding[]> {
  const out: Finding[] = [checkNode()];
  let config: Config;
  try {
    config = loadConfig();
    out.push({ check: 'configuration', status: 'ok', detail: 'environment parsed' });
  } catch (err) {
    out.push({
      check: 'configuration',
      status: 'fail',
      detail: (err as Error).message,
      fix: 'correct the variable named',
    });
    return out;
  }
  out.push(...(config.databaseUrl ? await checkPostgres(config.databaseUrl) : checkEmbedded(config)));
  if (config.redisUrl) out.push(...(await checkRedis(config.redisUrl)));
  out.push(await checkPort(config), checkFileDescriptors());
  return out;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check Node.js, the configuration, PostgreSQL (or the embedded store), migrations, Redis, clock skew, ' +
        'the port and the file-descriptor limit; prints a fix for each problem (exit 1 when a check fails)',
    )
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const findings = await runDoctor();
      if (o.json) process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
      else
        for (const f of findings)
          process.stdout.write(
            `${f.status.toUpperCase().padEnd(5)} ${f.check}: ${f.detail}${f.fix ? `\n      fix: ${f.fix}` : ''}\n`,
          );
      if (findings.some((f) => f.status === 'fail')) process.exitCode = 1;
    });
}

// A throwaway PostgreSQL cluster for fault tests: initdb into a temp dir,
// a free port, trust auth, its unix socket inside the temp dir, fsync off.
// Tests stop, restart and kill its backends without disturbing the machine's
// own server. Only this cluster's postmaster is ever signalled (pg_ctl -D).
//
//   const pg = await ThrowawayPostgres.start();        // in beforeAll
//   const url = await pg.createDatabase('herald');
//   await pg.restart();                                // pg_ctl restart -m fast
//   await pg.terminateBackends('herald');              // pg_terminate_backend
//   await pg.destroy();                                // in afterAll
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './redis.ts';

const bindir = (): string => execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();

/** PostgreSQL refuses to run as root: when the tests are root, the cluster runs as `postgres`. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function run(cmd: string, args: string[], user: { uid: number; gid: number } | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.once('error', reject);
    p.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} → ${code}: ${out}`)),
    );
  });
}

export function pgServerAvailable(): boolean {
  try {
    bindir();
    return true;
  } catch {
    return false;
  }
}

export class ThrowawayPostgres {
  private readonly bin = bindir();
  private readonly user = runAs();
  private readonly root = mkdtempSync(join(tmpdir(), 'herald-pg-'));
  private readonly data = join(this.root, 'data');
  private readonly sockets = join(this.root, 'sock');
  private running = false;

  private constructor(readonly port: number) {}

  static async start(): Promise<ThrowawayPostgres> {
    const s = new ThrowawayPostgres(await freePort());
    mkdirSync(s.sockets);
    if (s.user) {
      chownSync(s.root, s.user.uid, s.user.gid);
      chownSync(s.sockets, s.user.uid, s.user.gid);
    }
    await run(
      join(s.bin, 'initdb'),
      ['-D', s.data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions'],
      s.user,
    );
    await s.up();
    return s;
  }

  /** URL of a database on this cluster (default: the `postgres` maintenance database). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates a database and returns its URL. */
  async createDatabase(name: string): Promise<string> {
    await this.sql(`CREATE DATABASE ${name}`);
    return this.url(name);
  }

  /** Starts the postmaster and waits until it accepts connections. */
  async up(): Promise<void> {
    await this.ctl([
      'start',
      '-w',
      '-t',
      '60',
      '-l',
      join(this.root, 'server.log'),
      '-o',
      [
        `-p ${this.port}`,
        '-c listen_addresses=127.0.0.1',
        `-c unix_socket_directories=${this.sockets}`,
        '-c fsync=off',
        '-c full_page_writes=off',
        '-c max_connections=100',
      ].join(' '),
    ]);
    this.running = true;
  }

  /** `pg_ctl stop -m <mode>`: fast rolls back open transactions and disconnects every client. */
  async down(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.running) return;
    await this.ctl(['stop', '-w', '-t', '60', '-m', mode]);
    this.running = false;
  }

  /** `pg_ctl restart -m fast`, as an operator or a failover would. */
  async restart(): Promise<void> {
    await this.ctl(['restart', '-w', '-t', '60', '-m', 'fast']);
    this.running = true;
  }

  /** pg_terminate_backend on every backend of `database` but our own; returns how many. */
  async terminateBackends(database: string): Promise<number> {
    const rows = await this.sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = $1 AND pid <> pg_backend_pid()) t`,
      [database],
    );
    return rows[0].n;
  }

  /** One statement on a short-lived connection to the maintenance database. */
  async sql<T extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<T[]> {
    const c = new pg.Client({ connectionString: this.url() });
    await c.connect();
    try {
      return (await c.query<T>(text, params)).rows;
    } finally {
      await c.end();
    }
  }

  /** Stops the cluster (immediately) and removes its directory. */
  async destroy(): Promise<void> {
    await this.down('immediate').catch(() => {});
    rmSync(this.root, { recursive: true, force: true });
  }

  private ctl(args: string[]): Promise<string> {
    return run(join(this.bin, 'pg_ctl'), ['-D', this.data, ...args], this.user);
  }
}

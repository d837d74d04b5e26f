// The write path alone, through the public HTTP API: closed-loop sends to Herald (1 node, or 2
// nodes on Redis) and the usual design (bench/baseline/, two processes) with no socket connected, so what is
// measured is request → commit → 201 and not the fan-out. Systems are interleaved run by
// run (a shared machine's load hits both alike); ratios are per run. Server CPU per send is
// read from /proc for the server processes.
//
//   node --import tsx bench/http-send.ts [--runs 3] [--ms 2000] [--concurrency 4,64]
//   BENCH_SYSTEMS=herald,baseline (default; herald2 adds 2 nodes) · HERALD_NODE_CPU_PROF=<dir> profiles Herald
//   --before <checkout>: also each selected Herald from that checkout ("… before", its own
//   database), interleaved with this one — a before/after comparison under the same load.
// Redis commands per send are read from INFO commandstats: point HERALD_TEST_REDIS_URL at a
// Redis nothing else uses (a throwaway redis-server) for that column to mean anything.
// With HERALD_TEST_PG_URL on a server that loads pg_stat_statements (a throwaway cluster), each
// point also logs its statements per send, and the Redis commands per send by command, to stderr.
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { REDIS_URL } from '../test/support/redis.ts';
import { PG_ADMIN_URL } from '../test/support/stores.ts';
import { closedLoop, range } from './scenarios/common.ts';
import { cpuMs } from './support/procs.ts';
import { median, pct, r1, table } from './support/stats.ts';
import {
  type Deployment,
  prepareAll,
  type Running,
  SYSTEM_NAMES,
  selectedSystems,
  type World,
} from './support/systems.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    ms: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '4,64' },
    pairs: { type: 'string', default: '50' },
    groups: { type: 'string', default: '10' },
    before: { type: 'string' },
  },
});
const runs = Number(args.runs);
const ms = Number(args.ms);
const concurrencies = args.concurrency.split(',').map(Number);
const pairs = Number(args.pairs);
const groups = Number(args.groups);
const world: World = {
  users: pairs * 2 + groups * 10,
  rooms: [
    ...range(pairs).map((p) => ({ kind: 'direct' as const, members: [2 * p, 2 * p + 1] })),
    ...range(groups).map((g) => ({ kind: 'group' as const, members: range(10, pairs * 2 + g * 10) })),
  ],
};
const shapes: [string, number[]][] = [
  [`${pairs} rooms of 2`, range(pairs)],
  [`${groups} groups of 10`, range(groups, pairs)],
];

interface Point {
  sendsPerS: number;
  p50: number;
  p99: number;
  cpuUsPerSend: number;
  /** CPU of the PostgreSQL backends serving the system's database. */
  pgCpuUsPerSend: number;
  /** Transactions committed in the system's database per send (pg_stat_database). */
  commitsPerSend: number;
  /** Rows inserted, updated and deleted in it per send. */
  rowsPerSend: number;
  /** Deadlocks PostgreSQL broke (each cost deadlock_timeout, 1 s by default) and rollbacks, over the point. */
  deadlocks: number;
  rollbacks: number;
  /** Redis commands per send (all of the server's: see the header), 0 without Redis. */
  redisPerSend: number;
  /** Socket reads Redis processed per send (INFO stats): how many writes its clients made. */
  redisReadsPerSend: number;
  errors: number;
}

const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
await admin.connect();

/** CPU ms so far of each backend connected to `database` (read from /proc: same host). */
async function backendCpu(database: string | undefined): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!database) return out;
  const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [
    database,
  ]);
  for (const { pid } of rows) {
    try {
      out.set(pid, cpuMs(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Commits and row writes so far in `database` (statistics are flushed within ~1 s). */
async function dbStats(
  database: string | undefined,
): Promise<{ commits: number; rows: number; deadlocks: number; rollbacks: number }> {
  if (!database) return { commits: 0, rows: 0, deadlocks: 0, rollbacks: 0 };
  const { rows } = await admin.query<{ commits: string; rows: string; deadlocks: string; rollbacks: string }>(
    `SELECT xact_commit AS commits, tup_inserted + tup_updated + tup_deleted AS rows, deadlocks,
            xact_rollback AS rollbacks
       FROM pg_stat_database WHERE datname = $1`,
    [database],
  );
  const n = (k: 'commits' | 'rows' | 'deadlocks' | 'rollbacks') => Number(rows[0]?.[k] ?? 0);
  return { commits: n('commits'), rows: n('rows'), deadlocks: n('deadlocks'), rollbacks: n('rollbacks') };
}

/** Statement calls so far in `database` by query text, when pg_stat_statements is loaded. */
async function statementCalls(database: string | undefined): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!database) return out;
  try {
    const { rows } = await admin.query<{ query: string; calls: string }>(
      `SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = $1`,
      [database],
    );
    for (const r of rows) out.set(r.query, (out.get(r.query) ?? 0) + Number(r.calls));
  } catch {
    // not loaded: the breakdown is skipped
  }
  return out;
}

/** The biggest per-send counts of after − before, for the log. */
function perSendTop(before: Map<string, number>, after: Map<string, number>, sends: number): string[] {
  return [...after]
    .map(([k, n]) => [k, (n - (before.get(k) ?? 0)) / Math.max(1, sends)] as const)
    .filter(([, n]) => n >= 0.01)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 14)
    .map(([k, n]) => `${n.toFixed(2)}  ${k.replace(/\s+/g, ' ').slice(0, 110)}`);
}

const redis = new Redis(REDIS_URL, { lazyConnect: true });

/** Commands the Redis server has run so far (INFO commandstats), by command. */
async function redisCommands(): Promise<Map<string, number>> {
  if (redis.status === 'wait') await redis.connect();
  const out = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    out.set(m[1], Number(m[2]));
  const reads = /^total_reads_processed:(\d+)/m.exec(await redis.info('stats'));
  out.set('(reads)', Number(reads?.[1] ?? 0));
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measurePoint(sys: Running, rooms: number[], concurrency: number): Promise<Point> {
  const lat: number[] = [];
  let errors = 0;
  await sleep(1200); // the previous point's statistics reach pg_stat_database
  const stats0 = await dbStats(sys.database);
  const usesRedis = sys.key === 'herald2' || sys.key === 'baseline';
  const redis0 = usesRedis ? await redisCommands() : new Map<string, number>();
  const statements0 = await statementCalls(sys.database);
  const cpu0 = sys.pids.reduce((a, p) => a + cpuMs(p), 0);
  const pg0 = await backendCpu(sys.database);
  const elapsed = await closedLoop(sys, world, rooms, concurrency, ms, {
    sent: (_room, _seq, httpMs) => lat.push(httpMs),
    failed: () => errors++,
  });
  const cpu = sys.pids.reduce((a, p) => a + cpuMs(p), 0) - cpu0;
  let pgCpu = 0;
  for (const [pid, ms] of await backendCpu(sys.database)) pgCpu += ms - (pg0.get(pid) ?? 0);
  // Work the sends caused after their 201 (the relay's) is counted too: wait for it.
  await sleep(1200);
  const stats = await dbStats(sys.database);
  let redisCalls = 0;
  const redis1 = usesRedis ? await redisCommands() : new Map<string, number>();
  redis1.delete('info');
  const redisReads = (redis1.get('(reads)') ?? 0) - (redis0.get('(reads)') ?? 0);
  redis1.delete('(reads)');
  for (const [cmd, n] of redis1) redisCalls += n - (redis0.get(cmd) ?? 0);
  const breakdown = [
    ...perSendTop(statements0, await statementCalls(sys.database), lat.length),
    ...perSendTop(redis0, redis1, lat.length).map((l) => `redis ${l}`),
  ];
  if (breakdown.length)
    console.error(`  per send (${sys.name}, ${concurrency}):\n    ${breakdown.join('\n    ')}`);
  const per = (x: number) => Math.round((x / Math.max(1, lat.length)) * 100) / 100;
  return {
    sendsPerS: Math.round(lat.length / (elapsed / 1000)),
    p50: r1(pct(lat, 50)),
    p99: r1(pct(lat, 99)),
    cpuUsPerSend: Math.round((cpu * 1000) / Math.max(1, lat.length)),
    pgCpuUsPerSend: Math.round((pgCpu * 1000) / Math.max(1, lat.length)),
    commitsPerSend: per(stats.commits - stats0.commits),
    rowsPerSend: per(stats.rows - stats0.rows),
    deadlocks: stats.deadlocks - stats0.deadlocks,
    rollbacks: stats.rollbacks - stats0.rollbacks,
    redisPerSend: per(redisCalls),
    redisReadsPerSend: per(redisReads),
    errors,
  };
}

interface Entry {
  label: string;
  d: Deployment;
  /** The checkout its nodes run from (HERALD_NODE_ROOT), when not this one. */
  root?: string;
}
/** Runs fn with HERALD_NODE_ROOT set to root (startNode reads it when it spawns). */
async function from<T>(root: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (root) process.env.HERALD_NODE_ROOT = root;
  try {
    return await fn();
  } finally {
    delete process.env.HERALD_NODE_ROOT;
  }
}
const keys = selectedSystems(['herald', 'herald2', 'baseline']);
const entries: Entry[] = (await prepareAll(keys, world)).map((d) => ({ label: d.name, d }));
if (args.before) {
  const before = args.before;
  const heralds = keys.filter((k) => k === 'herald' || k === 'herald2');
  // Each Herald before its counterpart, so the pairs run back to back.
  for (const d of await from(before, () => prepareAll(heralds, world))) {
    const at = entries.findIndex((e) => e.d.key === d.key);
    entries.splice(at, 0, { label: `${d.name} before`, d, root: before });
  }
}
const labels = entries.map((e) => e.label);
const results = new Map<string, Point[]>(); // `${system}|${shape}|${c}` → runs
try {
  for (let r = 0; r < runs; r++) {
    for (const { label, d, root } of entries) {
      const sys = await from(root, () => d.start());
      try {
        // Warm up: every room once (Herald's kind cache, both systems' pools and plans).
        for (const room of range(world.rooms.length))
          await sys.send(room, world.rooms[room].members[0], 1_000_000 + room);
        for (const [shape, rooms] of shapes)
          for (const c of concurrencies) {
            const p = await measurePoint(sys, rooms, c);
            const key = `${label}|${shape}|${c}`;
            results.set(key, [...(results.get(key) ?? []), p]);
            console.error(`run ${r + 1} ${label} ${shape} @${c}: ${JSON.stringify(p)}`);
          }
      } finally {
        await sys.stop();
      }
    }
  }
} finally {
  for (const { d } of entries) await d.drop();
  await admin.end();
  redis.disconnect();
}

const rows: (string | number)[][] = [];
for (const [shape] of shapes)
  for (const c of concurrencies) {
    const base = results.get(`${SYSTEM_NAMES.baseline}|${shape}|${c}`);
    for (const k of labels) {
      const got = results.get(`${k}|${shape}|${c}`) ?? [];
      if (!got.length) continue;
      // Per-run ratios to the baseline's same run, then their median.
      const rat = (f: (p: Point) => number) =>
        base ? `${median(got.map((p, i) => f(p) / f(base[i]))).toFixed(2)}×` : '—';
      const m = (f: (p: Point) => number) => median(got.map(f));
      rows.push([
        shape,
        c,
        k,
        m((p) => p.sendsPerS),
        rat((p) => p.sendsPerS),
        `${m((p) => p.p50)} / ${m((p) => p.p99)}`,
        `${rat((p) => p.p50)} / ${rat((p) => p.p99)}`,
        `${m((p) => p.cpuUsPerSend)} + ${m((p) => p.pgCpuUsPerSend)}`,
        `${m((p) => p.commitsPerSend)} / ${m((p) => p.rowsPerSend)}`,
        `${m((p) => p.redisPerSend)} / ${m((p) => p.redisReadsPerSend)}`,
        `${got.reduce((a, p) => a + p.deadlocks, 0)} / ${got.reduce((a, p) => a + p.rollbacks, 0)}`,
        got.reduce((a, p) => a + p.errors, 0),
      ]);
    }
  }
console.log(
  table(
    [
      'rooms',
      'concurrency',
      'system',
      'sends/s',
      '÷ usual',
      'HTTP p50 / p99 ms',
      '÷ usual (p50 / p99)',
      'CPU µs/send: server + PostgreSQL',
      'PostgreSQL commits / rows written per send',
      'Redis commands / socket reads per send',
      'deadlocks / rollbacks (all runs)',
      'errors',
    ],
    rows,
  ),
);
console.log(`\n_${runs} run(s) of ${ms} ms per point, medians; per-run ratios to the usual design._`);

// `npm run bench [-- [--quick] [scenario…]]`: Herald side by side with the
// usual Socket.IO + Redis-adapter design (bench/baseline/) and the plain `ws`
// reference, interleaved in one invocation (scenarios/). Tables go to
// stdout as Markdown, progress to stderr, charts to docs/bench/*.svg.
//
//   fanout           1. fan-out latency: 1,000 members at 20 and 60 msg/s, 10,000 at 2 msg/s
//   saturation       2. frames/s delivered to 1,000 members
//   durable          3. durable sends/s: rooms of 2 and groups of 10, concurrency 1…64
//   drop-recover     4. 1,000 members, 100 msg/s, every socket cut for 200 ms
//   reconnect-storm  5. 10,000 clients cut for 200 ms while 2 msg/s are sent
//   idle-memory      6. RSS per idle socket at 10,000
//   compose          store-level: Herald's compose vs a per-recipient loop (no sockets)
//
// With no scenario, 1–6 run in that order. --quick (or BENCH_QUICK=1): small
// sizes, 1 run, charts to $TMPDIR/herald-bench — a smoke test, not figures.
// BENCH_RUNS (default 3) sets runs per scenario, BENCH_SYSTEMS restricts the
// systems (herald, herald2, heraldsplit, baseline, ws), BENCH_SVG_DIR the chart folder.
// Method and commands: docs/benchmarks.md ("How the side-by-side bench works").
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestStore } from '../test/support/stores.ts';
import { benchCompose, type ComposeResult } from './compose.ts';
import {
  dropProvisioned,
  dropRecover,
  durable,
  fanoutLatency,
  idleMemory,
  type Options,
  reconnectStorm,
  saturation,
} from './scenarios/index.ts';
import { medianBy, table } from './support/stats.ts';

async function compose(o: Options): Promise<string> {
  const shapes: [number, number][] = o.quick
    ? [
        [2, 300],
        [10, 300],
      ]
    : [
        [2, 3000],
        [10, 3000],
        [100, 1000],
        [1000, 200],
      ];
  const rows: (string | number)[][] = [];
  for (const [members, sends] of shapes) {
    const runs: ComposeResult[] = [];
    for (let r = 0; r < o.runs; r++) {
      const store = await openTestStore('postgres');
      try {
        runs.push(await benchCompose(store.db, members, sends));
      } finally {
        await store.close();
      }
    }
    const m = medianBy(runs, (x) => x.herald_per_s);
    rows.push([
      m.members,
      m.sends,
      m.herald_per_s,
      m.naive_per_s,
      `${m.ratio}×`,
      m.herald_p99_ms,
      m.naive_p99_ms,
    ]);
  }
  return [
    '## Store-level durable sends: Herald compose vs per-recipient loop (PostgreSQL, concurrency 16, no sockets)\n',
    table(
      ['members', 'sends', 'Herald sends/s', 'loop sends/s', 'ratio', 'Herald p99 ms', 'loop p99 ms'],
      rows,
    ),
    '',
  ].join('\n');
}

const scenarios: Record<string, (o: Options) => Promise<string>> = {
  fanout: fanoutLatency,
  saturation,
  durable,
  'drop-recover': dropRecover,
  'reconnect-storm': reconnectStorm,
  'idle-memory': idleMemory,
  compose,
};
const defaults = ['fanout', 'saturation', 'durable', 'drop-recover', 'reconnect-storm', 'idle-memory'];

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick') || process.env.BENCH_QUICK === '1';
  const names = args.filter((a) => !a.startsWith('--'));
  for (const n of names)
    if (!scenarios[n]) throw new Error(`unknown scenario ${n}: ${Object.keys(scenarios).join(', ')}`);
  const o: Options = {
    quick,
    runs: Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3)),
    svgDir: process.env.BENCH_SVG_DIR ?? (quick ? join(tmpdir(), 'herald-bench') : 'docs/bench'),
    log: (line) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  };
  try {
    for (const name of names.length ? names : defaults) await runOne(name, o, quick);
  } finally {
    await dropProvisioned();
  }
  console.error(`charts${quick && !process.env.BENCH_SVG_DIR ? ' (quick)' : ''}: ${o.svgDir}`);
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');

/** One scenario: its tables, then when it ran and how loaded the machine was. */
async function runOne(name: string, o: Options, quick: boolean) {
  const start = new Date().toISOString();
  const before = load();
  const t0 = performance.now();
  const out = await scenarios[name](o);
  console.log(out);
  console.log(
    `_${name}${quick ? ' (--quick)' : ''}: ${start} → ${new Date().toISOString()} (${Math.round((performance.now() - t0) / 1000)} s), ${cpus().length} cores, load average (1/5/15 min) ${before} before, ${load()} after._\n`,
  );
}

await main();

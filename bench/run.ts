// `npm run bench [scenario]`: side-by-side measurements on this machine.
// Each scenario runs 3 times; the median is reported. Results go to stdout
// as Markdown tables to paste into docs/benchmarks.md (progress on stderr).
//
//   compose          durable sends: Herald compose vs a per-recipient loop (PostgreSQL)
//   fanout           one message to N sockets: Herald node vs the naive `ws` server
//                    (N from BENCH_FANOUT_N, default 1000,5000; 10000 with BENCH_RUNS=1)
//   idle-memory      RSS per idle authenticated socket (N = BENCH_IDLE_N, default 5000)
//   reconnect-storm  N clients (BENCH_STORM_N, default 1000) dropped at once, resume with since_seq
//
// BENCH_RUNS (default 3) sets the runs per scenario; BENCH_SETTLE_MS pauses between "all
// subscribed" and the first fan-out message. Figures and method: docs/benchmarks.md.
import { cpus, loadavg } from 'node:os';
import { openTestStore } from '../test/support/stores.ts';
import { benchCompose, type ComposeResult } from './compose.ts';
import { benchFanout, benchIdleMemory, benchReconnectStorm, type FanoutRow, RUNS } from './sockets.ts';

function median<T>(runs: T[], key: (r: T) => number): T {
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor(runs.length / 2)];
}

const ints = (v: string | undefined, d: number[]) => (v ? v.split(',').map((x) => Number(x.trim())) : d);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

async function compose() {
  console.log('## Durable sends: Herald compose vs per-recipient loop (PostgreSQL 15, concurrency 16)\n');
  console.log('| members | sends | Herald sends/s | loop sends/s | ratio | Herald p99 ms | loop p99 ms |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [members, sends] of [
    [2, 3000],
    [10, 3000],
    [100, 1000],
    [1000, 200],
  ]) {
    const runs: ComposeResult[] = [];
    for (let r = 0; r < 3; r++) {
      const store = await openTestStore('postgres');
      try {
        runs.push(await benchCompose(store.db, members, sends));
      } finally {
        await store.close();
      }
    }
    const m = median(runs, (x) => x.herald_per_s);
    console.log(
      `| ${m.members} | ${m.sends} | ${m.herald_per_s} | ${m.naive_per_s} | ${m.ratio}× | ${m.herald_p99_ms} | ${m.naive_p99_ms} |`,
    );
  }
  console.log();
}

async function fanout() {
  const rows: FanoutRow[] = [];
  for (const n of ints(process.env.BENCH_FANOUT_N, [1000, 5000])) rows.push(await benchFanout(n));
  console.log('## Fan-out: one message to a channel of N sockets (HTTP send → last socket received it)\n');
  console.log(
    `Herald: \`herald serve\` on PostgreSQL 15 (in-process bus); naive ws: \`socket.send(JSON.stringify(frame))\` per socket; ws one string: serialized once. Medians of ${RUNS} run(s); latency p50/p99 over 20 messages each.\n`,
  );
  console.log(
    '| N | Herald last p50 / p99 ms | naive ws last p50 / p99 ms | ws one string p50 / p99 ms | Herald ÷ naive (p50) | Herald first-receiver p50 ms |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.n} | ${r.herald.p50} / ${r.herald.p99} | ${r.naive.p50} / ${r.naive.p99} | ${r.once.p50} / ${r.once.p99} | ${ratio(r.herald.p50, r.naive.p50)} | ${r.herald.firstP50} |`,
    );
  console.log(
    '\n| N | Herald non-event frames per socket over a run (KiB) | latency messages that missed a socket (Herald / naive / one string) |',
  );
  console.log('|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.n} | ${r.herald.otherKiBPerSocket} | ${r.herald.incomplete} / ${r.naive.incomplete} / ${r.once.incomplete} |`,
    );
  console.log(
    '\n| N | burst msgs | Herald frames/s | naive ws frames/s | ws one string frames/s | Herald ÷ naive | Herald CPU µs/frame | naive CPU µs/frame | one string CPU µs/frame | Herald connect ms |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.n} | ${r.herald.burstMessages} | ${r.herald.framesPerS} | ${r.naive.framesPerS} | ${r.once.framesPerS} | ${ratio(r.herald.framesPerS, r.naive.framesPerS)} | ${r.herald.cpuUsPerFrame} | ${r.naive.cpuUsPerFrame} | ${r.once.cpuUsPerFrame} | ${r.herald.connectMs} |`,
    );
  console.log();
}

async function idleMemory() {
  const n = ints(process.env.BENCH_IDLE_N, [5000])[0];
  const r = await benchIdleMemory(n);
  const kib = (b: number) => (b / 1024).toFixed(1);
  console.log(`## Idle memory: RSS per idle authenticated socket (N = ${n})\n`);
  console.log('| server | KiB per socket (median) | runs (KiB) |');
  console.log('|---|---|---|');
  console.log(`| Herald | ${kib(r.heraldBytesPerSocket)} | ${r.heraldRuns.map(kib).join(', ')} |`);
  console.log(`| plain ws | ${kib(r.plainBytesPerSocket)} | ${r.plainRuns.map(kib).join(', ')} |`);
  console.log(`\nHerald ÷ plain ws: ${ratio(r.heraldBytesPerSocket, r.plainBytesPerSocket)}\n`);
}

async function storm() {
  const n = ints(process.env.BENCH_STORM_N, [1000])[0];
  const r = await benchReconnectStorm(n);
  console.log(`## Reconnect storm: ${n} clients dropped at once while 500 messages are sent at 100/s\n`);
  console.log(
    '| server | clients that lost messages | median lost per client | max lost | duplicates dropped | all caught up (ms after drop) | p50 caught up ms | runs: all caught up ms |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, m, runs] of [
    ['Herald', r.herald, r.heraldRuns],
    ['plain ws', r.plain, r.plainRuns],
  ] as const) {
    console.log(
      `| ${name} | ${m.lostClients} / ${m.clients} | ${m.medianLost} | ${m.maxLost} | ${m.dups} | ${Math.round(m.caughtUpMaxMs)} | ${Math.round(m.caughtUpP50Ms)} | ${runs.map((x) => Math.round(x.caughtUpMaxMs)).join(', ')} |`,
    );
  }
  console.log();
}

async function main() {
  const only = process.argv[2];
  const scenarios: Record<string, () => Promise<void>> = {
    compose,
    fanout,
    'idle-memory': idleMemory,
    'reconnect-storm': storm,
  };
  if (only && !scenarios[only])
    throw new Error(`unknown scenario ${only}: ${Object.keys(scenarios).join(', ')}`);
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(1))
      .join(' / ');
  for (const [name, run] of Object.entries(scenarios)) {
    if (only && only !== name) continue;
    const start = new Date().toISOString();
    const before = load();
    await run();
    console.log(
      `_${name}: ${start} → ${new Date().toISOString()}, ${cpus().length} cores, load average (1/5/15 min) ${before} before, ${load()} after._\n`,
    );
  }
}

await main();

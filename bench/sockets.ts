// Socket benchmarks, Herald vs the naive `ws` design, in one run:
// - fanout: one message to a room of N sockets (HTTP send → last socket
//   received it), and frames/s delivered by the server process in a burst;
// - idle-memory: RSS per idle authenticated socket;
// - reconnect-storm: all sockets dropped at once while messages keep
//   coming; every client reconnects (full jitter) and resubscribes with since_seq.
// Servers run as their own processes; the clients live in a separate
// load-generator process (support/loadgen.ts). Traffic stays on loopback.
import {
  cpuMs,
  LoadGen,
  now,
  type Provisioned,
  provision,
  rssBytes,
  sleep,
  startHeraldNode,
  startPlain,
  type Target,
} from './support/procs.ts';

/** Runs per scenario (median reported): BENCH_RUNS, default 3. */
export const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** Pause between "all sockets subscribed" and the first message (BENCH_SETTLE_MS, default 0). */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 0);

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

const r1 = (x: number) => Math.round(x * 10) / 10;

// ---- fanout ---------------------------------------------------------------------

export interface FanoutRun {
  connectMs: number;
  p50: number;
  p99: number;
  firstP50: number;
  framesPerS: number;
  cpuUsPerFrame: number;
  burstMessages: number;
  /** Latency messages that did not reach every socket within 20 s. */
  incomplete: number;
  /** Bytes of non-event frames (welcome, subscribed, presence…) per socket over the run, KiB. */
  otherKiBPerSocket?: number;
}

const LATENCY_MESSAGES = 20;

async function measureFanout(
  t: Target,
  lg: LoadGen,
  n: number,
  sendOpts: { once?: boolean } = {},
): Promise<Omit<FanoutRun, 'connectMs'>> {
  let i = 0;
  await sleep(SETTLE_MS);
  // Warm-up (JIT, connection pools).
  for (let w = 0; w < 3; w++) await lg.waitAll(await t.send(i++, sendOpts));
  const lat: number[] = [];
  const first: number[] = [];
  let incomplete = 0;
  for (let k = 0; k < LATENCY_MESSAGES; k++) {
    const t0 = now();
    const seq = await t.send(i++, sendOpts);
    try {
      const got = await lg.waitAll(seq, 20_000);
      lat.push(got.last - t0);
      first.push(got.first - t0);
    } catch {
      incomplete++;
      if (incomplete >= 3) throw new Error(`${t.name}: 3 messages did not reach every socket within 20 s`);
    }
    await sleep(50);
  }
  // Burst: about 200k frames, sent by 4 concurrent senders as fast as they go.
  const burst = Math.max(10, Math.ceil(200_000 / n));
  const cpu0 = cpuMs(t.pid);
  const t0 = now();
  const seqs: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < burst) {
        next++;
        seqs.push(await t.send(i++, sendOpts));
      }
    }),
  );
  const done = await Promise.all(seqs.map((s) => lg.waitAll(s, 120_000)));
  const tEnd = Math.max(...done.map((d) => d.last));
  await sleep(200);
  const cpu = cpuMs(t.pid) - cpu0;
  const frames = n * burst;
  return {
    p50: r1(pct(lat, 50)),
    p99: r1(pct(lat, 99)),
    firstP50: r1(pct(first, 50)),
    framesPerS: Math.round(frames / ((tEnd - t0) / 1000)),
    cpuUsPerFrame: r1((cpu * 1000) / frames),
    burstMessages: burst,
    incomplete,
  };
}

export interface FanoutRow {
  n: number;
  herald: FanoutRun;
  naive: FanoutRun;
  once: FanoutRun;
}

function medianRun(runs: FanoutRun[]): FanoutRun {
  const m = (k: keyof FanoutRun) => median(runs.map((r) => r[k] ?? 0));
  return {
    connectMs: Math.round(m('connectMs')),
    p50: m('p50'),
    p99: m('p99'),
    firstP50: m('firstP50'),
    framesPerS: m('framesPerS'),
    cpuUsPerFrame: m('cpuUsPerFrame'),
    burstMessages: m('burstMessages'),
    incomplete: m('incomplete'),
    otherKiBPerSocket: median(runs.map((r) => r.otherKiBPerSocket ?? 0)),
  };
}

export async function benchFanout(n: number, runs = RUNS, log = console.error): Promise<FanoutRow> {
  const lg = await LoadGen.start();
  const herald: FanoutRun[] = [];
  const naive: FanoutRun[] = [];
  const once: FanoutRun[] = [];
  let p: Provisioned | null = null;
  try {
    p = await provision(n);
    log(`fanout ${n}: provisioned ${n} users in ${Math.round(p.setupMs)} ms`);
    for (let r = 0; r < runs; r++) {
      // Herald
      {
        const t = await startHeraldNode(p);
        try {
          const c = await lg.request(
            { cmd: 'connect', mode: 'herald', url: t.wsUrl, tokens: p.tokens, conversation: p.conversation },
            'connected',
          );
          lg.clearAll();
          const res = { connectMs: c.ms as number, ...(await measureFanout(t, lg, n)) };
          const st = await lg.request({ cmd: 'stats' }, 'stats');
          herald.push({ ...res, otherKiBPerSocket: r1((st.otherBytes as number) / 1024 / n) });
          log(
            `fanout ${n} run ${r + 1} Herald: ${JSON.stringify(res)}; non-event frames received so far: ${st.otherFrames} (${Math.round((st.otherBytes as number) / 1024)} KiB)`,
          );
        } finally {
          await lg.request({ cmd: 'close' }, 'closed');
          await t.stop();
        }
      }
      // Baseline: per-socket JSON.stringify, then one string for all sockets.
      {
        const t = await startPlain();
        try {
          const c = await lg.request(
            { cmd: 'connect', mode: 'plain', url: t.wsUrl, tokens: p.tokens, conversation: null },
            'connected',
          );
          lg.clearAll();
          const a = { connectMs: c.ms as number, ...(await measureFanout(t, lg, n)) };
          naive.push(a);
          log(`fanout ${n} run ${r + 1} naive ws: ${JSON.stringify(a)}`);
          const b = { connectMs: c.ms as number, ...(await measureFanout(t, lg, n, { once: true })) };
          once.push(b);
          log(`fanout ${n} run ${r + 1} ws one string: ${JSON.stringify(b)}`);
        } finally {
          await lg.request({ cmd: 'close' }, 'closed');
          await t.stop();
        }
      }
    }
  } finally {
    await lg.exit();
    await p?.drop();
  }
  return { n, herald: medianRun(herald), naive: medianRun(naive), once: medianRun(once) };
}

// ---- idle memory ----------------------------------------------------------------

export interface IdleRow {
  n: number;
  heraldBytesPerSocket: number;
  plainBytesPerSocket: number;
  heraldRuns: number[];
  plainRuns: number[];
}

async function idleOnce(t: Target, lg: LoadGen, tokens: string[]): Promise<number> {
  await sleep(2000);
  const before = rssBytes(t.pid);
  await lg.request({ cmd: 'connect', mode: t.mode, url: t.wsUrl, tokens, conversation: null }, 'connected');
  await sleep(5000);
  const after = rssBytes(t.pid);
  await lg.request({ cmd: 'close' }, 'closed');
  return (after - before) / tokens.length;
}

export async function benchIdleMemory(n: number, runs = RUNS, log = console.error): Promise<IdleRow> {
  const lg = await LoadGen.start();
  const herald: number[] = [];
  const plain: number[] = [];
  let p: Provisioned | null = null;
  try {
    p = await provision(n);
    log(`idle-memory ${n}: provisioned in ${Math.round(p.setupMs)} ms`);
    for (let r = 0; r < runs; r++) {
      const h = await startHeraldNode(p);
      try {
        herald.push(await idleOnce(h, lg, p.tokens));
      } finally {
        await h.stop();
      }
      const b = await startPlain();
      try {
        plain.push(await idleOnce(b, lg, p.tokens));
      } finally {
        await b.stop();
      }
      log(
        `idle-memory run ${r + 1}: Herald ${Math.round(herald[r])} B/socket, plain ws ${Math.round(plain[r])} B/socket`,
      );
    }
  } finally {
    await lg.exit();
    await p?.drop();
  }
  return {
    n,
    heraldBytesPerSocket: median(herald),
    plainBytesPerSocket: median(plain),
    heraldRuns: herald,
    plainRuns: plain,
  };
}

// ---- reconnect storm --------------------------------------------------------------

export interface StormReport {
  clients: number;
  lostClients: number;
  behind: number;
  medianLost: number;
  maxLost: number;
  dups: number;
  reconnected: number;
  caughtUpMaxMs: number;
  caughtUpP50Ms: number;
  attemptsMax: number;
  sent: number;
}

const STORM_MESSAGES = 500;
const STORM_RATE_PER_S = 100;
const STORM_DROP_AFTER_MS = 1500;

async function stormOnce(t: Target, lg: LoadGen, p: Provisioned): Promise<StormReport> {
  await lg.request(
    {
      cmd: 'connect',
      mode: t.mode,
      url: t.wsUrl,
      tokens: p.tokens,
      conversation: p.conversation,
      storm: true,
    },
    'connected',
  );
  // Messages keep coming at a steady rate; the sockets are all dropped at once meanwhile.
  let head = 0;
  let sent = 0;
  const t0 = now();
  const inflight: Promise<void>[] = [];
  let dropped = false;
  for (let i = 0; i < STORM_MESSAGES; i++) {
    const due = t0 + (i * 1000) / STORM_RATE_PER_S;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    if (!dropped && now() - t0 >= STORM_DROP_AFTER_MS) {
      dropped = true;
      await lg.request({ cmd: 'drop' }, 'dropped');
    }
    inflight.push(
      t.send(i).then((seq) => {
        sent++;
        head = Math.max(head, seq);
      }),
    );
    if (inflight.length > 64) await Promise.all(inflight.splice(0, 32));
  }
  await Promise.all(inflight);
  // Wait (bounded) until every client holds the head.
  let report: StormReport | null = null;
  const until = now() + 30_000;
  for (;;) {
    const m = await lg.request({ cmd: 'storm-report', head }, 'storm-report');
    report = { ...(m.report as Omit<StormReport, 'sent'>), sent };
    if (report.behind === 0 || now() > until) break;
    await sleep(250);
  }
  await lg.request({ cmd: 'close' }, 'closed');
  return report;
}

export interface StormRow {
  herald: StormReport;
  plain: StormReport;
  heraldRuns: StormReport[];
  plainRuns: StormReport[];
}

export async function benchReconnectStorm(n: number, runs = RUNS, log = console.error): Promise<StormRow> {
  const lg = await LoadGen.start();
  const herald: StormReport[] = [];
  const plain: StormReport[] = [];
  let p: Provisioned | null = null;
  try {
    p = await provision(n);
    log(`reconnect-storm ${n}: provisioned in ${Math.round(p.setupMs)} ms`);
    for (let r = 0; r < runs; r++) {
      const h = await startHeraldNode(p);
      try {
        herald.push(await stormOnce(h, lg, p));
      } finally {
        await h.stop();
      }
      log(`reconnect-storm run ${r + 1} Herald: ${JSON.stringify(herald[r])}`);
      const b = await startPlain();
      try {
        plain.push(await stormOnce(b, lg, p));
      } finally {
        await b.stop();
      }
      log(`reconnect-storm run ${r + 1} plain ws: ${JSON.stringify(plain[r])}`);
    }
  } finally {
    await lg.exit();
    await p?.drop();
  }
  const med = (rs: StormReport[]) => {
    const sorted = [...rs].sort((a, b) => a.caughtUpMaxMs - b.caughtUpMaxMs);
    return sorted[Math.floor(sorted.length / 2)];
  };
  return { herald: med(herald), plain: med(plain), heraldRuns: herald, plainRuns: plain };
}

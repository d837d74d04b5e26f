// The side-by-side scenarios of `npm run bench` (issue 10): each one
// provisions the same World on every system, then runs them interleaved —
// run 1 of Herald 1 node, Herald 2 nodes, the usual design, `ws`; run 2 of
// each; … — through the shim in support/systems.ts and one load generator
// (support/loadgen.ts). Every table reports each system ÷ the usual design
// and counts what each one loses. Figures go to stdout as Markdown; progress
// and per-run details to stderr; charts to SVG files.
import { join } from 'node:path';
import { cpuMs, LoadGen, now, rssBytes, sleep } from './support/procs.ts';
import { fmt, median, medianFields, pct, r1, ratio, table } from './support/stats.ts';
import { barChart, lineChart, writeSvg } from './support/svg.ts';
import {
  type Deployment,
  prepareAll,
  type Running,
  SYSTEM_NAMES,
  type SystemKey,
  selectedSystems,
  type World,
} from './support/systems.ts';

export interface Options {
  quick: boolean;
  runs: number;
  /** Where charts go (docs/bench for full runs). */
  svgDir: string;
  log: (line: string) => void;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const channel = (n: number): World => ({ users: n, rooms: [{ kind: 'channel', members: range(n) }] });
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const cpuOf = (pids: number[]) => sum(pids.map(cpuMs));
const rssOf = (pids: number[]) => sum(pids.map(rssBytes));

type Results<R> = Map<SystemKey, { runs: R[]; errors: string[] }>;

// Provisioned worlds, kept for the whole invocation: several scenarios use the same channel
// (1,000 or 10,000 members), and minting 10,000 tokens is minutes of set-up, not of measuring.
// Messages left by one scenario do not matter to the next: each tracks its own seqs.
const provisioned = new Map<string, Map<SystemKey, Deployment>>();

async function deploymentsFor(keys: SystemKey[], world: World, o: Options): Promise<Deployment[]> {
  const id = JSON.stringify(world);
  const have = provisioned.get(id) ?? new Map<SystemKey, Deployment>();
  provisioned.set(id, have);
  const missing = keys.filter((k) => !have.has(k));
  if (missing.length) for (const d of await prepareAll(missing, world, o.log)) have.set(d.key, d);
  return keys.map((k) => have.get(k) as Deployment);
}

/** Drops every database the scenarios provisioned. */
export async function dropProvisioned(): Promise<void> {
  for (const m of provisioned.values()) for (const d of m.values()) await d.drop();
  provisioned.clear();
}

/** Provisions `world` on each system, then runs `one` for every system in turn, `runs` times. */
async function interleaved<R>(
  keys: SystemKey[],
  world: World,
  o: Options,
  label: string,
  one: (sys: Running, lg: LoadGen) => Promise<R>,
): Promise<Results<R>> {
  const deployments = await deploymentsFor(keys, world, o);
  const out: Results<R> = new Map(keys.map((k) => [k, { runs: [], errors: [] }]));
  const lg = await LoadGen.start();
  try {
    for (let r = 0; r < o.runs; r++) {
      for (const d of deployments) {
        const slot = out.get(d.key) as { runs: R[]; errors: string[] };
        let sys: Running | null = null;
        try {
          sys = await d.start();
          const res = await one(sys, lg);
          slot.runs.push(res);
          o.log(`${label} run ${r + 1} ${d.name}: ${JSON.stringify(res)}`);
        } catch (err) {
          // One system failing a run is a finding, not a reason to lose the others' figures.
          slot.errors.push((err as Error).message);
          o.log(`${label} run ${r + 1} ${d.name}: FAILED ${(err as Error).message}`);
        } finally {
          await lg.request({ cmd: 'close' }, 'closed');
          lg.clearAll();
          await sys?.stop();
        }
      }
    }
  } finally {
    await lg.exit();
  }
  return out;
}

async function connect(lg: LoadGen, sys: Running, users: number[], resume = false): Promise<number> {
  const m = await lg.request(
    { cmd: 'connect', mode: sys.mode, clients: sys.clients(users), resume },
    'connected',
  );
  return m.ms as number;
}

/** Sends `count` messages one after the other and waits for each to reach every member. */
async function warmUp(sys: Running, lg: LoadGen, room: number, from: number | 'admin', count: number) {
  for (let k = 0; k < count; k++) await lg.waitAll(sys.roomKey(room), await sys.send(room, from, k), 30_000);
}

function failedNote<R>(res: Results<R>): string {
  const lines: string[] = [];
  for (const [k, v] of res)
    if (v.errors.length) lines.push(`- ${SYSTEM_NAMES[k]}: ${v.errors.length} failed run(s): ${v.errors[0]}`);
  return lines.length ? `\n${lines.join('\n')}\n` : '';
}

// ---- 1. fan-out latency ---------------------------------------------------------------

interface LatencyRun extends Record<string, number> {
  lastP50: number;
  lastP99: number;
  firstP50: number;
  firstP99: number;
  httpP50: number;
  /** Messages that did not reach every member within 10 s (or whose send failed). */
  incomplete: number;
  messages: number;
  /** Events a member received after a later seq of the room, summed over members. */
  outOfOrder: number;
}

/** Open loop: message k is sent at t0 + k/rate whatever happened to the previous ones. */
async function latencyAtRate(sys: Running, lg: LoadGen, rate: number, count: number): Promise<LatencyRun> {
  const room = sys.roomKey(0);
  const t0 = now();
  const tasks: Promise<{ last: number; first: number; http: number } | null>[] = [];
  for (let k = 0; k < count; k++) {
    const wait = t0 + (k * 1000) / rate - now();
    if (wait > 0) await sleep(wait);
    tasks.push(
      (async () => {
        const ts = now();
        try {
          const seq = await sys.send(0, 'admin', k);
          const th = now();
          const got = await lg.waitAll(room, seq, 10_000);
          return { last: got.last - ts, first: got.first - ts, http: th - ts };
        } catch {
          return null;
        }
      })(),
    );
  }
  const got = await Promise.all(tasks);
  const ok = got.filter((x) => x !== null);
  return {
    lastP50: r1(
      pct(
        ok.map((x) => x.last),
        50,
      ),
    ),
    lastP99: r1(
      pct(
        ok.map((x) => x.last),
        99,
      ),
    ),
    firstP50: r1(
      pct(
        ok.map((x) => x.first),
        50,
      ),
    ),
    firstP99: r1(
      pct(
        ok.map((x) => x.first),
        99,
      ),
    ),
    httpP50: r1(
      pct(
        ok.map((x) => x.http),
        50,
      ),
    ),
    incomplete: count - ok.length,
    messages: count,
    outOfOrder: 0,
  };
}

/** BENCH_FANOUT=members:rate:seconds,… (e.g. 1000:20:5) instead of the default points. */
function fanoutPointsFromEnv(): [number, [number, number][]][] | null {
  const spec = process.env.BENCH_FANOUT;
  if (!spec) return null;
  const by = new Map<number, [number, number][]>();
  for (const part of spec.split(',')) {
    const [members, rate, seconds] = part.split(':').map(Number);
    if (!(members > 0 && rate > 0 && seconds > 0)) throw new Error(`BENCH_FANOUT: bad point "${part}"`);
    by.set(members, [...(by.get(members) ?? []), [rate, seconds]]);
  }
  return [...by];
}

export async function fanoutLatency(o: Options): Promise<string> {
  // [members, [rate msg/s, seconds]…]
  const defaults: [number, [number, number][]][] = o.quick
    ? [
        [
          200,
          [
            [20, 1.5],
            [60, 1],
          ],
        ],
        [500, [[2, 3]]],
      ]
    : [
        [
          1000,
          [
            [20, 10],
            [60, 5],
          ],
        ],
        [10000, [[2, 15]]],
      ];
  const points = fanoutPointsFromEnv() ?? defaults;
  const keys = selectedSystems(['herald', 'herald2', 'baseline', 'ws']);
  const rows: (string | number)[][] = [];
  const groups: { label: string; values: ([number, number] | undefined)[] }[] = [];
  let notes = '';
  for (const [n, rates] of points) {
    const res = await interleaved(keys, channel(n), o, `fanout ${n}`, async (sys, lg) => {
      const connectMs = await connect(lg, sys, range(n));
      await warmUp(sys, lg, 0, 'admin', 3);
      const out: Record<string, LatencyRun | number> = { connectMs: Math.round(connectMs) };
      for (const [rate, secs] of rates) {
        const lateBefore = (await lg.request({ cmd: 'stats' }, 'stats')).late as number;
        const run = await latencyAtRate(sys, lg, rate, Math.round(rate * secs));
        run.outOfOrder = ((await lg.request({ cmd: 'stats' }, 'stats')).late as number) - lateBefore;
        out[`r${rate}`] = run;
      }
      return out;
    });
    notes += failedNote(res);
    for (const [rate] of rates) {
      const med = new Map<SystemKey, LatencyRun>();
      for (const [k, v] of res)
        if (v.runs.length) med.set(k, medianFields(v.runs.map((x) => x[`r${rate}`] as LatencyRun)));
      const base = med.get('baseline');
      for (const k of keys) {
        const m = med.get(k);
        const connectMs = median((res.get(k)?.runs ?? []).map((x) => x.connectMs as number));
        rows.push(
          m
            ? [
                n,
                rate,
                SYSTEM_NAMES[k],
                `${fmt(m.lastP50)} / ${fmt(m.lastP99)}`,
                `${fmt(m.firstP50)} / ${fmt(m.firstP99)}`,
                fmt(m.httpP50),
                `${ratio(m.lastP50, base?.lastP50)} / ${ratio(m.lastP99, base?.lastP99)}`,
                `${m.incomplete} / ${m.messages}`,
                m.outOfOrder,
                fmt(connectMs, 0),
              ]
            : [n, rate, SYSTEM_NAMES[k], 'failed', '—', '—', '—', '—', '—', '—'],
        );
      }
      groups.push({
        label: `${n} members, ${rate} msg/s`,
        values: keys.map((k) => {
          const m = med.get(k);
          return m ? [m.lastP50, m.lastP99] : undefined;
        }),
      });
    }
  }
  writeSvg(
    join(o.svgDir, 'fanout-latency.svg'),
    barChart(
      'Fan-out: HTTP send → last member received it (ms)',
      'ms',
      keys.map((k) => SYSTEM_NAMES[k]),
      groups,
    ),
  );
  return [
    '## 1. Fan-out latency: one channel, messages sent over HTTP at a fixed rate\n',
    `Latency from just before the HTTP send to the first / last member's socket receiving the event; medians of ${o.runs} run(s), each field's median taken separately. "÷ usual" = this system ÷ the usual design in the same run set (lower is better).\n`,
    table(
      [
        'members',
        'msg/s',
        'system',
        'last receiver p50 / p99 ms',
        'first receiver p50 / p99 ms',
        'HTTP p50 ms',
        '÷ usual (last p50 / p99)',
        'messages not at every member',
        'out-of-order receipts',
        'connect all ms',
      ],
      rows,
    ),
    notes,
  ].join('\n');
}

// ---- 2. saturation -----------------------------------------------------------------------

interface SaturationRun extends Record<string, number> {
  framesPerS: number;
  cpuUsPerFrame: number;
  loadgenCpuPct: number;
  burstMessages: number;
  incomplete: number;
  outOfOrder: number;
}

async function saturate(sys: Running, lg: LoadGen, n: number, frames: number): Promise<SaturationRun> {
  const room = sys.roomKey(0);
  const burst = Math.max(10, Math.ceil(frames / n));
  const cpu0 = cpuOf(sys.pids);
  const lg0 = cpuMs(lg.pid);
  const t0 = now();
  const seqs: number[] = [];
  let next = 0;
  // 4 concurrent senders as fast as the server answers.
  await Promise.all(
    range(4).map(async () => {
      while (next < burst) seqs.push(await sys.send(0, 'admin', next++));
    }),
  );
  let incomplete = 0;
  const done = await Promise.all(
    seqs.map((s) =>
      lg.waitAll(room, s, 120_000).catch(() => {
        incomplete++;
        return null;
      }),
    ),
  );
  const tEnd = Math.max(...done.map((d) => d?.last ?? 0));
  const cpu = cpuOf(sys.pids) - cpu0;
  const delivered = n * (burst - incomplete);
  return {
    framesPerS: Math.round(delivered / ((tEnd - t0) / 1000)),
    cpuUsPerFrame: r1((cpu * 1000) / delivered),
    loadgenCpuPct: Math.round(((cpuMs(lg.pid) - lg0) / (tEnd - t0)) * 100),
    burstMessages: burst,
    incomplete,
    outOfOrder: 0,
  };
}

export async function saturation(o: Options): Promise<string> {
  const n = o.quick ? 200 : 1000;
  const frames = o.quick ? 20_000 : 200_000;
  const keys = selectedSystems(['herald', 'herald2', 'baseline', 'ws']);
  const res = await interleaved(keys, channel(n), o, `saturation ${n}`, async (sys, lg) => {
    await connect(lg, sys, range(n));
    await warmUp(sys, lg, 0, 'admin', 3);
    const run = await saturate(sys, lg, n, frames);
    run.outOfOrder = (await lg.request({ cmd: 'stats' }, 'stats')).late as number;
    return run;
  });
  const med = new Map<SystemKey, SaturationRun>();
  for (const [k, v] of res) if (v.runs.length) med.set(k, medianFields(v.runs));
  const base = med.get('baseline');
  const rows = keys.map((k) => {
    const m = med.get(k);
    return m
      ? [
          n,
          SYSTEM_NAMES[k],
          m.framesPerS,
          ratio(m.framesPerS, base?.framesPerS),
          fmt(m.cpuUsPerFrame),
          m.loadgenCpuPct,
          m.burstMessages,
          m.incomplete,
          m.outOfOrder,
        ]
      : [n, SYSTEM_NAMES[k], 'failed', '—', '—', '—', '—', '—', '—'];
  });
  return [
    `## 2. Saturation: frames/s delivered to ${n} members\n`,
    `A burst of ⌈${frames.toLocaleString('en')} / ${n}⌉ messages from 4 concurrent HTTP senders; frames/s = members × delivered messages ÷ (first send → last frame at the last member). CPU µs/frame: the server processes' CPU over the burst ÷ frames. Load generator CPU % near 100 means the clients, not the server, were the limit. Medians of ${o.runs} run(s); "÷ usual" higher is better.\n`,
    table(
      [
        'members',
        'system',
        'frames/s',
        '÷ usual',
        'server CPU µs/frame',
        'load generator CPU %',
        'burst msgs',
        'messages not at every member',
        'out-of-order receipts',
      ],
      rows,
    ),
    failedNote(res),
  ].join('\n');
}

// ---- 3. durable sends ----------------------------------------------------------------------

interface DurableRun extends Record<string, number> {
  sendsPerS: number;
  httpP50: number;
  httpP99: number;
  c2rP50: number;
  c2rP99: number;
  sends: number;
  /** Sends answered 201 whose event did not reach every member of the room within 15 s. */
  undelivered: number;
  errors: number;
}

/**
 * Closed loop: `concurrency` senders, each sending as soon as its previous
 * send was answered, for `ms`; rooms taken round-robin, the sender a member of
 * the room. commit → receive = last member's receive − the sender's 201
 * (floored at 0: the commit happened before the 201 was written).
 */
async function durableAt(
  sys: Running,
  lg: LoadGen,
  world: World,
  rooms: number[],
  concurrency: number,
  ms: number,
): Promise<DurableRun> {
  const http: number[] = [];
  const c2r: number[] = [];
  const pending: Promise<void>[] = [];
  let undelivered = 0;
  let errors = 0;
  let k = 0;
  const t0 = now();
  const stopAt = t0 + ms;
  await Promise.all(
    range(concurrency).map(async () => {
      while (now() < stopAt) {
        const i = k++;
        const room = rooms[i % rooms.length];
        const members = world.rooms[room].members;
        const from = members[Math.floor(i / rooms.length) % members.length];
        const ts = now();
        let seq: number;
        try {
          seq = await sys.send(room, from, i);
        } catch {
          errors++;
          continue;
        }
        const th = now();
        http.push(th - ts);
        pending.push(
          lg.waitAll(sys.roomKey(room), seq, 15_000).then(
            (got) => {
              c2r.push(Math.max(0, got.last - th));
            },
            () => {
              undelivered++;
            },
          ),
        );
      }
    }),
  );
  const elapsed = now() - t0;
  await Promise.all(pending);
  return {
    sendsPerS: Math.round(http.length / (elapsed / 1000)),
    httpP50: r1(pct(http, 50)),
    httpP99: r1(pct(http, 99)),
    c2rP50: r1(pct(c2r, 50)),
    c2rP99: r1(pct(c2r, 99)),
    sends: http.length,
    undelivered,
    errors,
  };
}

export async function durable(o: Options): Promise<string> {
  const pairs = o.quick ? 50 : 500;
  const groups = o.quick ? 10 : 100;
  const concurrencies = (process.env.BENCH_DURABLE_CONCURRENCY ?? (o.quick ? '4,64' : '1,4,16,64'))
    .split(',')
    .map(Number);
  const ms = o.quick ? 1000 : 5000;
  // One world, two shapes on disjoint users: `pairs` direct rooms of 2, then `groups` groups of 10.
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
  const keys = selectedSystems(['herald', 'herald2', 'baseline']);
  const res = await interleaved(keys, world, o, 'durable', async (sys, lg) => {
    await connect(lg, sys, range(world.users));
    for (const [, rooms] of shapes)
      for (let w = 0; w < 4; w++) await warmUp(sys, lg, rooms[w], world.rooms[rooms[w]].members[0], 1);
    const out: Record<string, DurableRun> = {};
    for (const [shape, rooms] of shapes)
      for (const c of concurrencies) out[`${shape}@${c}`] = await durableAt(sys, lg, world, rooms, c, ms);
    return out;
  });
  const rows: (string | number)[][] = [];
  for (const [shape] of shapes) {
    const lines = keys.map((k) => ({ name: SYSTEM_NAMES[k], points: [] as [number, number][] }));
    for (const c of concurrencies) {
      const med = new Map<SystemKey, DurableRun>();
      for (const [k, v] of res)
        if (v.runs.length) med.set(k, medianFields(v.runs.map((x) => x[`${shape}@${c}`])));
      const base = med.get('baseline');
      keys.forEach((k, ki) => {
        const m = med.get(k);
        if (m) lines[ki].points.push([c, m.sendsPerS]);
        rows.push(
          m
            ? [
                shape,
                c,
                SYSTEM_NAMES[k],
                m.sendsPerS,
                ratio(m.sendsPerS, base?.sendsPerS),
                `${fmt(m.httpP50)} / ${fmt(m.httpP99)}`,
                `${fmt(m.c2rP50)} / ${fmt(m.c2rP99)}`,
                `${m.undelivered} / ${m.sends}`,
                m.errors,
              ]
            : [shape, c, SYSTEM_NAMES[k], 'failed', '—', '—', '—', '—', '—'],
        );
      });
    }
    writeSvg(
      join(o.svgDir, `durable-sends-${shape.endsWith('of 2') ? 'pairs' : 'groups'}.svg`),
      lineChart(
        `Durable sends/s, ${shape} (every member connected)`,
        'concurrent HTTP senders',
        'sends/s',
        lines,
      ),
    );
  }
  return [
    '## 3. Durable sends: committed to PostgreSQL and delivered to every member\n',
    `Closed loop for ${ms / 1000} s per concurrency; every member of every room connected. Herald: direct conversations (rooms of 2) and groups; 1 node on the in-process bus, 2 nodes on Redis. The usual design: two processes, Redis adapter, \`pg\` pool of 10 each. commit → receive: the last member's receive − the sender's 201. Medians of ${o.runs} run(s); "÷ usual" higher is better.\n`,
    table(
      [
        'rooms',
        'concurrency',
        'system',
        'sends/s',
        '÷ usual',
        'HTTP p50 / p99 ms',
        'commit → receive p50 / p99 ms',
        'not delivered to every member',
        'send errors',
      ],
      rows,
    ),
    failedNote(res),
  ].join('\n');
}

// ---- 4 and 5. drop and recover, reconnect storm -------------------------------------------------

interface DropRun extends Record<string, number> {
  acceptedPerS: number;
  httpP99: number;
  lostClients: number;
  clients: number;
  medianLost: number;
  maxLost: number;
  dups: number;
  /** Events that arrived after a later seq (out of order), summed over clients. */
  late: number;
  caughtUpP50Ms: number;
  caughtUpMaxMs: number;
  sent: number;
  errors: number;
}

interface DropPlan {
  n: number;
  rate: number;
  ms: number;
  dropAtMs: number;
  outageMs: number;
}

/**
 * Open loop at `rate` (at most 64 sends in flight) for `ms`; `dropAtMs` in,
 * every socket is cut at once and nothing reconnects for `outageMs`; then
 * clients come back with full-jitter backoff (Herald: `subscribe` with
 * since_seq = the last seq each holds; the others: join again, live from now).
 * Ends when every client holds the final head; for systems without resume, also once every
 * client is back and nothing has changed for 3 s; after 90 s in any case.
 */
async function dropOnce(sys: Running, lg: LoadGen, p: DropPlan): Promise<DropRun> {
  await connect(lg, sys, range(p.n), true);
  await warmUp(sys, lg, 0, 'admin', 1);
  const room = sys.roomKey(0);
  let head = 0;
  let errors = 0;
  const http: number[] = [];
  const inflight = new Set<Promise<void>>();
  const t0 = now();
  let lastOk = t0;
  let dropped = false;
  const count = Math.round((p.rate * p.ms) / 1000);
  for (let k = 0; k < count; k++) {
    const wait = t0 + (k * 1000) / p.rate - now();
    if (wait > 0) await sleep(wait);
    if (!dropped && now() - t0 >= p.dropAtMs) {
      dropped = true;
      await lg.request({ cmd: 'drop', outageMs: p.outageMs }, 'dropped');
    }
    while (inflight.size >= 64) await Promise.race(inflight);
    const ts = now();
    const task: Promise<void> = sys.send(0, 'admin', k).then(
      (seq) => {
        lastOk = now();
        http.push(lastOk - ts);
        head = Math.max(head, seq);
      },
      () => {
        errors++;
      },
    );
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
  }
  await Promise.all(inflight);
  type Report = Omit<DropRun, 'acceptedPerS' | 'httpP99' | 'sent' | 'errors'> & {
    behind: number;
    totalLost: number;
    reconnected: number;
  };
  let report: Report;
  let stableSince = now();
  let prev = '';
  // Herald resumes: wait for every client to hold the head (a stall is not a loss until the
  // deadline). The others cannot get back what they missed: done once all are back and quiet.
  const until = now() + 90_000;
  for (;;) {
    report = (await lg.request({ cmd: 'drop-report', heads: { [room]: head } }, 'drop-report'))
      .report as Report;
    const sig = `${report.totalLost}/${report.reconnected}/${report.dups}`;
    if (sig !== prev) {
      prev = sig;
      stableSince = now();
    }
    if (report.behind === 0 || now() > until) break;
    if (sys.mode !== 'herald' && report.reconnected === report.clients && now() - stableSince > 3000) break;
    await sleep(250);
  }
  return {
    acceptedPerS: r1(http.length / ((lastOk - t0) / 1000)),
    httpP99: r1(pct(http, 99)),
    lostClients: report.lostClients,
    clients: report.clients,
    medianLost: report.medianLost,
    maxLost: report.maxLost,
    dups: report.dups,
    late: report.late,
    caughtUpP50Ms: Math.round(report.caughtUpP50Ms),
    caughtUpMaxMs: Math.round(report.caughtUpMaxMs),
    sent: http.length,
    errors,
  };
}

async function dropScenario(o: Options, title: string, label: string, p: DropPlan): Promise<string> {
  const keys = selectedSystems(['herald', 'herald2', 'baseline', 'ws']);
  const res = await interleaved(keys, channel(p.n), o, label, (sys, lg) => dropOnce(sys, lg, p));
  const med = new Map<SystemKey, DropRun>();
  for (const [k, v] of res) if (v.runs.length) med.set(k, medianFields(v.runs));
  const base = med.get('baseline');
  const ms = (x: number) => (Number.isFinite(x) ? String(x) : 'never');
  const rows = keys.map((k) => {
    const m = med.get(k);
    const runs = res.get(k)?.runs ?? [];
    return m
      ? [
          SYSTEM_NAMES[k],
          m.acceptedPerS,
          ratio(m.acceptedPerS, base?.acceptedPerS),
          fmt(m.httpP99),
          `${m.lostClients} / ${m.clients}`,
          `${m.medianLost} / ${m.maxLost}`,
          `${m.dups} / ${m.late}`,
          `${ms(m.caughtUpP50Ms)} / ${ms(m.caughtUpMaxMs)}`,
          runs.map((r) => ms(r.caughtUpMaxMs)).join(', '),
        ]
      : [SYSTEM_NAMES[k], 'failed', '—', '—', '—', '—', '—', '—', '—'];
  });
  return [
    `## ${title}\n`,
    `${p.n} members of one channel, ${p.rate} msg/s offered over HTTP for ${p.ms / 1000} s (at most 64 in flight); ${p.dropAtMs / 1000} s in, every socket is cut and nothing reconnects for ${p.outageMs} ms, then clients return with full-jitter backoff (100 ms base, 1 s cap). Herald clients resume with \`since_seq\`; the usual design and \`ws\` have nothing to resume from and rejoin live. A client lost a message when it saw a seq jump or ended below the final head. "caught up": Herald — holds the head its \`subscribed\` announced; the others — back live. Medians of ${o.runs} run(s).\n`,
    table(
      [
        'system',
        'accepted msg/s',
        '÷ usual',
        'HTTP p99 ms',
        'clients that lost messages',
        'lost per client median / max',
        'duplicates / out of order',
        'caught up p50 / all (ms after drop)',
        'runs: all caught up ms',
      ],
      rows,
    ),
    failedNote(res),
  ].join('\n');
}

export function dropRecover(o: Options): Promise<string> {
  const p = o.quick
    ? { n: 200, rate: 100, ms: 3000, dropAtMs: 1000, outageMs: 200 }
    : { n: 1000, rate: 100, ms: 6000, dropAtMs: 2000, outageMs: 200 };
  return dropScenario(o, '4. Drop and recover', 'drop-recover', p);
}

export function reconnectStorm(o: Options): Promise<string> {
  const p = o.quick
    ? { n: 500, rate: 2, ms: 5000, dropAtMs: 2000, outageMs: 200 }
    : { n: 10000, rate: 2, ms: 12_000, dropAtMs: 4000, outageMs: 200 };
  return dropScenario(o, `5. Reconnect storm: ${p.n.toLocaleString('en')} clients`, 'reconnect-storm', p);
}

// ---- 6. idle memory ----------------------------------------------------------------------------

export async function idleMemory(o: Options): Promise<string> {
  const n = o.quick ? 500 : 10000;
  const settle = o.quick ? 1000 : 5000;
  const keys = selectedSystems(['herald', 'herald2', 'baseline', 'ws']);
  const res = await interleaved(keys, channel(n), o, `idle-memory ${n}`, async (sys, lg) => {
    // RSS settles after start-up (JIT, pools); read it before and after the sockets, same wait both sides.
    await sleep(settle);
    const before = rssOf(sys.pids);
    await connect(lg, sys, range(n));
    await sleep(settle);
    return { bytesPerSocket: Math.round((rssOf(sys.pids) - before) / n) };
  });
  const med = new Map<SystemKey, number>();
  for (const [k, v] of res) if (v.runs.length) med.set(k, median(v.runs.map((r) => r.bytesPerSocket)));
  const kib = (b: number | undefined) => fmt(b === undefined ? undefined : b / 1024);
  const rows = keys.map((k) => [
    SYSTEM_NAMES[k],
    kib(med.get(k)),
    ratio(med.get(k), med.get('baseline')),
    (res.get(k)?.runs ?? []).map((r) => kib(r.bytesPerSocket)).join(', '),
  ]);
  return [
    `## 6. Idle memory per socket (N = ${n.toLocaleString('en')}, each joined to one channel)\n`,
    `Server RSS (summed over the system's processes) ${settle / 1000} s after the last socket joined, minus RSS before connecting, ÷ N. Not garbage-collected first. Medians of ${o.runs} run(s); lower is better.\n`,
    table(['system', 'KiB per socket', '÷ usual', 'runs (KiB)'], rows),
    failedNote(res),
  ].join('\n');
}

// Scenario 1: fan-out latency — one channel, messages sent over HTTP at a fixed rate.
import { join } from 'node:path';
import { type LoadGen, now, sleep } from '../support/procs.ts';
import { fmt, median, medianFields, pct, r1, ratio, table } from '../support/stats.ts';
import { barChart, writeSvg } from '../support/svg.ts';
import { type Running, SYSTEM_NAMES, type SystemKey, selectedSystems } from '../support/systems.ts';
import { channel, connect, failedNote, interleaved, type Options, range, warmUp } from './common.ts';

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

// Scenario 3: durable sends — closed-loop sends committed and delivered to every member.
import { join } from 'node:path';
import type { LoadGen } from '../support/procs.ts';
import { fmt, medianFields, pct, r1, ratio, table } from '../support/stats.ts';
import { lineChart, writeSvg } from '../support/svg.ts';
import {
  type Running,
  SYSTEM_NAMES,
  type SystemKey,
  selectedSystems,
  type World,
} from '../support/systems.ts';
import { closedLoop, connect, failedNote, interleaved, type Options, range, warmUp } from './common.ts';

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
  const elapsed = await closedLoop(sys, world, rooms, concurrency, ms, {
    sent(room, seq, httpMs, answeredAt) {
      http.push(httpMs);
      pending.push(
        lg.waitAll(sys.roomKey(room), seq, 15_000).then(
          (got) => {
            c2r.push(Math.max(0, got.last - answeredAt));
          },
          () => {
            undelivered++;
          },
        ),
      );
    },
    failed() {
      errors++;
    },
  });
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

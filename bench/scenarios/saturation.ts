// Scenario 2: saturation — frames/s delivered to one channel's members by a burst of sends.
import { cpuMs, type LoadGen, now } from '../support/procs.ts';
import { fmt, medianFields, r1, ratio, table } from '../support/stats.ts';
import { type Running, SYSTEM_NAMES, type SystemKey, selectedSystems } from '../support/systems.ts';
import { channel, connect, cpuOf, failedNote, interleaved, type Options, range, warmUp } from './common.ts';

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

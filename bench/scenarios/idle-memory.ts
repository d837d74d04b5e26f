// Scenario 6: idle memory per socket.
import { sleep } from '../support/procs.ts';
import { fmt, median, ratio, table } from '../support/stats.ts';
import { SYSTEM_NAMES, type SystemKey, selectedSystems } from '../support/systems.ts';
import { channel, connect, failedNote, interleaved, type Options, range, rssOf } from './common.ts';

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

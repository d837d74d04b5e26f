// What a WebSocket connect costs on 2 nodes: N clients of one channel connect at once (a
// reconnect storm's shape), each waits for `welcome` and its `subscribed`; reported per
// connect: Redis commands, the socket reads Redis processed (how many writes the nodes made
// to it), the nodes' CPU, and the wall time of the storm. Runs interleaved with --before.
//
//   HERALD_TEST_REDIS_URL=<a Redis nothing else uses> node --import tsx bench/connect-cost.ts \
//     [--clients 1000] [--runs 3] [--before <checkout>]
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { REDIS_URL } from '../test/support/redis.ts';
import type { ClientSpec } from './support/loadgen.ts';
import { cpuMs, now } from './support/procs.ts';
import { median, table } from './support/stats.ts';
import { type Deployment, prepareAll, type World } from './support/systems.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    before: { type: 'string' },
  },
});
const n = Number(args.clients);
const world: World = {
  users: n,
  rooms: [{ kind: 'channel', members: Array.from({ length: n }, (_, i) => i) }],
};
const redis = new Redis(REDIS_URL);

async function redisCounts(): Promise<{ commands: number; reads: number }> {
  const stats = await redis.info('stats');
  const num = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  return { commands: num('total_commands_processed'), reads: num('total_reads_processed') };
}

/** Opens one client; resolves once its room is subscribed. */
function open(c: ClientSpec): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(c.url, { headers: { authorization: `Bearer ${c.credential}` } });
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.includes('"welcome"'))
        for (const room of c.rooms) ws.send(JSON.stringify({ type: 'subscribe', conversation: room }));
      else if (text.includes('"subscribed"')) resolve(ws);
      else if (text.includes('"type":"error"')) reject(new Error(text.slice(0, 200)));
    });
    ws.on('error', reject);
  });
}

interface Point {
  commands: number;
  reads: number;
  cpuUs: number;
  wallMs: number;
}

async function storm(d: Deployment): Promise<Point> {
  const sys = await d.start();
  try {
    const specs = sys.clients(Array.from({ length: n }, (_, i) => i));
    const r0 = await redisCounts();
    const cpu0 = sys.pids.reduce((a, p) => a + cpuMs(p), 0);
    const t0 = now();
    const sockets = await Promise.all(specs.map(open));
    const wallMs = now() - t0;
    // The connects' own writes (subscriptions, registrations) land within this wait.
    await new Promise((r) => setTimeout(r, 500));
    const r1 = await redisCounts();
    const cpu = sys.pids.reduce((a, p) => a + cpuMs(p), 0) - cpu0;
    for (const ws of sockets) ws.terminate();
    return {
      commands: (r1.commands - r0.commands) / n,
      reads: (r1.reads - r0.reads) / n,
      cpuUs: (cpu * 1000) / n,
      wallMs,
    };
  } finally {
    await sys.stop();
  }
}

const entries: { label: string; d: Deployment; root?: string }[] = (await prepareAll(['herald2'], world)).map(
  (d) => ({ label: d.name, d }),
);
if (args.before) {
  process.env.HERALD_NODE_ROOT = args.before;
  const [d] = await prepareAll(['herald2'], world);
  delete process.env.HERALD_NODE_ROOT;
  entries.unshift({ label: `${d.name} before`, d, root: args.before });
}
const results = new Map<string, Point[]>();
try {
  for (let r = 0; r < Number(args.runs); r++)
    for (const e of entries) {
      if (e.root) process.env.HERALD_NODE_ROOT = e.root;
      try {
        const p = await storm(e.d);
        results.set(e.label, [...(results.get(e.label) ?? []), p]);
        console.error(`run ${r + 1} ${e.label}: ${JSON.stringify(p)}`);
      } finally {
        delete process.env.HERALD_NODE_ROOT;
      }
    }
} finally {
  for (const e of entries) await e.d.drop();
  redis.disconnect();
}
const r1 = (x: number) => Math.round(x * 10) / 10;
console.log(
  table(
    ['system', 'Redis commands / socket reads per connect', 'server CPU µs per connect', 'storm wall ms'],
    entries.map((e) => {
      const got = results.get(e.label) ?? [];
      const m = (f: (p: Point) => number) => r1(median(got.map(f)));
      return [
        e.label,
        `${m((p) => p.commands)} / ${m((p) => p.reads)}`,
        m((p) => p.cpuUs),
        m((p) => p.wallMs),
      ];
    }),
  ),
);
console.log(`\n_${n} clients, ${args.runs} run(s), medians._`);

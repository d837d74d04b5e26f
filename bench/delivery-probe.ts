// A probe of the delivery path alone: one channel of N members on real `herald serve`
// nodes (PostgreSQL; 1 node with the in-process bus or 2 on Redis), messages sent over
// HTTP at a fixed rate, and per message the stages a client sees: the 201, the first and
// the last member's receive, and the gap between the 201 and the first receive (commit →
// relay → bus → gateway → socket). Clients run in this process. Not part of `npm run bench`
// (which compares systems); this one is for looking at Herald's own stages, e.g. with
// HERALD_NODE_CPU_PROF=<dir> to profile the nodes.
//
//   node --import tsx bench/delivery-probe.ts [--members 200] [--rate 20] [--messages 60] [--nodes 1]
import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { type NodeProcess, startNode } from '../test/support/cluster.ts';
import { REDIS_URL, testPrefix } from '../test/support/redis.ts';
import { createTestDatabase } from '../test/support/stores.ts';
import { pct, r1 } from './support/stats.ts';
import { call } from './support/systems.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const members = arg('members', 200);
const rate = arg('rate', 20);
const messages = arg('messages', 60);
const nodes = arg('nodes', 1);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const db = await createTestDatabase();
  const prefix = nodes > 1 ? testPrefix() : null;
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    HERALD_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    HERALD_DEMO: 'false',
    HERALD_DEV_TOKENS: 'false',
    HERALD_ACCESS_TTL_SEC: '7200',
    HERALD_SEND_RATE_MAX: '1000000',
    HERALD_API_KEY_RATE_MAX: '1000000',
    HERALD_HANDSHAKES_PER_IP_PER_SEC: '1000000',
    HERALD_HANDSHAKE_BURST_PER_IP: '1000000',
    HERALD_DRAIN_GRACE_MS: '0',
    ...(prefix ? { REDIS_URL, HERALD_REDIS_PREFIX: prefix.prefix } : {}),
  };
  const procs: NodeProcess[] = [];
  const sockets: WebSocket[] = [];
  try {
    for (let n = 0; n < nodes; n++) procs.push(await startNode(env));
    const base = procs[0].url;
    const { api_key } = await call<{ api_key: string }>(base, 'POST', '/v1/tenants', env.HERALD_ADMIN_TOKEN, {
      tenant_id: 'probe',
    });
    const mint = async (user: string) =>
      (await call<{ access_token: string }>(base, 'POST', '/v1/tokens', api_key, { user_id: user }))
        .access_token;
    const sender = await mint('sender');
    const ids = Array.from({ length: members }, (_, i) => `u${i}`);
    const tokens: string[] = [];
    for (let i = 0; i < members; i += 16) tokens.push(...(await Promise.all(ids.slice(i, i + 16).map(mint))));
    const { conversation } = await call<{ conversation: { id: string } }>(
      base,
      'POST',
      '/v1/conversations',
      sender,
      {
        kind: 'channel',
        title: 'probe',
        members: ids.slice(0, 1000),
      },
    );
    for (let i = 1000; i < members; i += 1000)
      await call(base, 'POST', `/v1/conversations/${conversation.id}/members`, sender, {
        user_ids: ids.slice(i, i + 1000),
      });
    const conv = conversation.id;

    // Receive times per seq: first, last and how many members have it.
    const got = new Map<number, { first: number; last: number; n: number }>();
    let otherFrames = 0;
    const t0 = now();
    await Promise.all(
      tokens.map(
        (token, i) =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(procs[i % procs.length].wsUrl, {
              headers: { authorization: `Bearer ${token}` },
            });
            sockets.push(ws);
            ws.on('error', reject);
            ws.on('message', (data) => {
              const t = now();
              const f = JSON.parse(String(data)) as { type: string; seq?: number };
              if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', conversation: conv }));
              else if (f.type === 'subscribed') resolve();
              else if (f.type === 'event' && f.seq !== undefined) {
                const g = got.get(f.seq);
                if (g) {
                  g.last = t;
                  g.n++;
                } else got.set(f.seq, { first: t, last: t, n: 1 });
              } else otherFrames++;
            });
          }),
      ),
    );
    console.error(
      `connected ${members} in ${Math.round(now() - t0)} ms (window ${Math.round(t0 * 1000)} ${Math.round(now() * 1000)} µs)`,
    );

    const send = async (i: number) => {
      const at = now();
      const res = await fetch(`${procs[i % procs.length].url}/v1/conversations/${conv}/messages`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${sender}`,
          'content-type': 'application/json',
          'idempotency-key': randomUUID(),
        },
        body: JSON.stringify({ body: `probe message ${i}` }),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`send ${res.status} ${text}`);
      return { at, ok: now(), seq: (JSON.parse(text) as { message: { seq: number } }).message.seq };
    };
    for (let i = 0; i < 3; i++) await send(i);
    await sleep(300);
    otherFrames = 0;
    const sent: { at: number; ok: number; seq: number }[] = [];
    const start = now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < messages; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      inflight.push(send(i).then((s) => void sent.push(s)));
    }
    await Promise.all(inflight);
    console.error(
      `window ${Math.round(start * 1000)} ${Math.round(now() * 1000)} (µs, monotonic: for cpuprofile filtering)`,
    );
    const deadline = now() + 10_000;
    while (now() < deadline && sent.some((s) => (got.get(s.seq)?.n ?? 0) < members)) await sleep(20);
    const http = sent.map((s) => s.ok - s.at);
    const first = sent.map((s) => (got.get(s.seq)?.first ?? Number.NaN) - s.at);
    const last = sent.map((s) => (got.get(s.seq)?.last ?? Number.NaN) - s.at);
    const after201 = sent.map((s) => (got.get(s.seq)?.first ?? Number.NaN) - s.ok);
    const spread = sent.map((s) => {
      const g = got.get(s.seq);
      return g ? g.last - g.first : Number.NaN;
    });
    const row = (name: string, xs: number[]) =>
      `${name.padEnd(22)} p50 ${r1(pct(xs, 50))}  p99 ${r1(pct(xs, 99))}`;
    console.log(`members ${members}, ${rate} msg/s, ${messages} messages, ${nodes} node(s)`);
    console.log(row('HTTP 201', http));
    console.log(row('201 → first receive', after201));
    console.log(row('first receive', first));
    console.log(row('last receive', last));
    console.log(row('first → last', spread));
    console.log(
      `incomplete ${sent.filter((s) => (got.get(s.seq)?.n ?? 0) < members).length}; other frames per message per member ${r1(otherFrames / members / messages)}`,
    );
    for (const p of procs) {
      const m = await (await fetch(`${p.url}/metrics`)).text();
      const line = (name: string) => m.split('\n').find((l) => l.startsWith(name)) ?? `${name} ?`;
      console.log(
        line('herald_relay_commit_to_publish_seconds_sum'),
        line('herald_relay_commit_to_publish_seconds_count'),
      );
    }
  } finally {
    for (const ws of sockets) ws.terminate();
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await prefix?.cleanup();
    await db.drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

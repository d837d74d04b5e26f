// PostgreSQL CPU per send of `herald_send` alone, before and after a change of its SQL:
// pgbench (-M prepared) against two databases seeded alike through the domain — one migrated
// by another checkout (BEFORE_DIR, default /work/main), one by this one — interleaved round by
// round, so a shared machine's load hits both alike. Each transaction is one herald_send of a
// batch of `size` sends to distinct conversations of one shape (each pgbench client its own
// conversations: no lock waits). CPU = the pgbench backends' user + system time from /proc,
// sampled once every client is connected and again just before the run ends; sends = the
// messages committed in between. The payload is built by the statement itself (message ids
// made unique with replace()): `--probe` measures that part alone, to subtract. Both sides'
// conversations and inbox entries are vacuumed before each run.
//
//   node --import tsx bench/pg-send.ts [--rounds 3] [--seconds 8] [--clients 4] [--sizes 1,4,16]
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { execute } from '../src/domain/commands.ts';
import { createConversation } from '../src/domain/conversations.ts';
import type { Db } from '../src/store/db.ts';
import { seedTenant } from '../test/support/fixtures.ts';
import { checkoutDatabase } from './support/checkout-db.ts';
import { cpuMs, sleep } from './support/procs.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    clients: { type: 'string', default: '4' },
    sizes: { type: 'string', default: '1,4,16' },
    shapes: { type: 'string', default: 'direct,group' },
    probe: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    before: { type: 'string', default: process.env.BEFORE_DIR ?? '/work/main' },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const clients = Number(args.clients);
const sizes = args.sizes.split(',').map(Number);
const shapes = args.shapes.split(',');
const perClient = Math.max(...sizes);

interface Side {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

async function side(name: string, dir: string): Promise<Side> {
  const { tdb, db, deps } = await checkoutDatabase(dir, 4);
  const users = Array.from({ length: 10 * clients * perClient }, (_, i) => `u${String(i).padStart(4, '0')}`);
  const tenant = await seedTenant(db, users);
  // One row per (shape, client, k): the conversation and its sender.
  await db.query(
    'CREATE TABLE bench_convs (shape text, client int, k int, tenant text, conversation text, sender text, PRIMARY KEY (shape, client, k))',
  );
  for (let c = 0; c < clients; c++) {
    for (let k = 0; k < perClient; k++) {
      const n = c * perClient + k;
      const a = users[2 * n];
      const r = await execute(deps, tenant, {
        kind: 'DirectMessage',
        sender: a,
        to: users[2 * n + 1],
        input: { body: 'hi' },
      });
      const members = users.slice(10 * n, 10 * n + 10);
      const { id } = await createConversation(
        deps,
        tenant,
        { type: 'user', user_id: members[0] },
        { kind: 'group', title: `g${n}`, members: members.slice(1) },
      );
      await db.query('INSERT INTO bench_convs VALUES ($1, $2, $3, $4, $5, $6), ($7, $2, $3, $4, $8, $9)', [
        'direct',
        c,
        k,
        tenant,
        r.message.conversation_id,
        a,
        'group',
        id,
        members[1],
      ]);
    }
  }
  // A batch as compose.ts specOf writes it, one per (shape, client, size), ordered by
  // conversation as the batcher orders it; XID becomes unique per transaction.
  await db.query(`
    CREATE TABLE bench_batches AS
    SELECT shape, client, size,
           jsonb_agg(jsonb_build_object(
             'tenant', tenant, 'conversation', conversation, 'sender', sender, 'kind', shape,
             'id', 'XID-' || k, 'body', 'message XID-' || k, 'reply_to', NULL, 'mentions', '[]'::jsonb,
             'attachments', '[]'::jsonb, 'data', NULL, 'client_id', 'c-XID-' || k, 'hash', md5(k::text),
             'viewers', '[]'::jsonb, 'subjects', '[]'::jsonb, 'created', false, 'large', 1000, 'trace', NULL)
             ORDER BY conversation)::text AS payload
      FROM bench_convs, unnest('{${sizes.join(',')}}'::int[]) AS size
     WHERE k < size
     GROUP BY shape, client, size`);
  const drop = async () => {
    await db.close();
    await tdb.drop();
  };
  return { name, url: tdb.url, db, drop };
}

async function pgbench(s: Side, shape: string, size: number, probe: boolean) {
  const call = probe
    ? "SELECT length(replace(b.payload, 'XID', :r::text)::jsonb::text) FROM bench_batches b"
    : "SELECT count(*) FROM bench_batches b, herald_send(replace(b.payload, 'XID', :r::text)::jsonb)";
  const script = `/tmp/pg-send-${process.pid}.sql`;
  writeFileSync(
    script,
    `\\set r random(1, 1000000000000)\n${call} WHERE b.shape = :shape AND b.client = :client_id AND b.size = :size;\n`,
  );
  // Every send updates its conversation and its recipients' inbox entries: the faster side
  // would otherwise start each run with more dead rows to step over than the other.
  await s.db.query('VACUUM conversations, inbox_entries');
  const count = async () =>
    Number((await s.db.query<{ n: string }>('SELECT count(*) AS n FROM messages')).rows[0].n);
  const backends = async () =>
    (
      await s.db.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgbench'",
      )
    ).rows.map((r) => r.pid);
  const cpu = (pids: number[]) => {
    try {
      return pids.reduce((t, p) => t + cpuMs(p), 0);
    } catch {
      throw new Error(`a pgbench backend ended early: ${out}`);
    }
  };
  const proc = spawn(
    'pgbench',
    [
      '-n',
      '-M',
      'prepared',
      '-c',
      String(clients),
      '-j',
      '1',
      '-T',
      String(seconds),
      '-D',
      `shape=${shape}`,
      '-D',
      `size=${size}`,
      '-f',
      script,
      s.url,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGAPPNAME: 'pgbench' } },
  );
  let out = '';
  proc.stdout.on('data', (d) => {
    out += d;
  });
  proc.stderr.on('data', (d) => {
    out += d;
  });
  const done = new Promise<number>((r) => proc.on('exit', (code) => r(code ?? -1)));
  let pids: number[] = [];
  for (let i = 0; i < 50 && pids.length < clients; i++) {
    await sleep(100);
    pids = await backends();
  }
  await sleep(500);
  const load = loadavg()[0];
  const [c0, n0, t0] = [cpu(pids), await count(), performance.now()];
  await sleep((seconds - 2) * 1000);
  const [c1, n1, t1] = [cpu(pids), await count(), performance.now()];
  if ((await done) !== 0) throw new Error(`pgbench failed: ${out}`);
  const calls = probe ? ((t1 - t0) / 1000) * Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? 0) : (n1 - n0) / size;
  const sends = calls * size;
  return { usPerSend: ((c1 - c0) * 1000) / sends, perS: sends / ((t1 - t0) / 1000), load };
}

const before = await side('before', args.before);
const after = await side('after', new URL('..', import.meta.url).pathname.replace(/\/$/, ''));
try {
  console.log(
    `pgbench -M prepared -c ${clients}, ${seconds} s per run (CPU sampled over ${seconds - 2} s), ${rounds} rounds, before = ${args.before}`,
  );
  for (const shape of shapes) {
    for (const size of sizes) {
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const b = await pgbench(before, shape, size, args.probe);
        const a = await pgbench(after, shape, size, args.probe);
        ratios.push(b.usPerSend / a.usPerSend);
        const f = (x: typeof a) =>
          `${x.usPerSend.toFixed(0)} µs/send, ${x.perS.toFixed(0)} sends/s (load ${x.load.toFixed(1)})`;
        console.log(
          `${shape} × ${size} round ${r + 1}: before ${f(b)} | after ${f(a)} | CPU ×${(b.usPerSend / a.usPerSend).toFixed(2)} less`,
        );
      }
      const median = [...ratios].sort((x, y) => x - y)[Math.floor(ratios.length / 2)];
      console.log(`${shape} × ${size}: median CPU per send before/after ×${median.toFixed(2)}`);
    }
  }
} finally {
  if (args.keep) {
    console.log(`kept: before ${before.url}, after ${after.url}`);
    await before.db.close();
    await after.db.close();
  } else {
    await before.drop();
    await after.drop();
  }
}

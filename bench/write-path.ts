// Durable sends per second through the domain's send path, as the HTTP route runs it (kind
// lookup → command → execute), 64 concurrent senders against this machine's PostgreSQL:
// rooms of 2 (direct conversations) and groups of 10. "before" is another checkout's code
// (BEFORE_DIR, default /work/main) on the same database, interleaved round by round with
// this checkout's ("after"), so a shared machine's load hits both alike; ratios are per round.
// --own-db gives each checkout its own database, migrated by that checkout and seeded alike:
// the before/after of a change to the SQL (migrations) rather than to the TypeScript.
//
//   node --import tsx bench/write-path.ts [--rounds 3] [--sends 3000] [--concurrency 64] [--own-db]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { seedTenant } from '../test/support/fixtures.ts';
import { checkoutDatabase } from './support/checkout-db.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    sends: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '64' },
    pool: { type: 'string', default: '10' },
    before: { type: 'string', default: process.env.BEFORE_DIR ?? '/work/main' },
    'own-db': { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
const total = Number(args.sends);
const concurrency = Number(args.concurrency);

// biome-ignore lint/suspicious/noExplicitAny: the two checkouts' modules are typed apart.
type Mod = any;
interface Impl {
  name: string;
  commands: Mod;
  kindOf(deps: Mod, tenant: string, id: string): Promise<string>;
}

async function load(dir: string, name: string): Promise<Impl> {
  const commands = await import(`${dir}/src/domain/commands.ts`);
  // The cached kind lookup takes the domain's deps (their read store); a checkout from before
  // it has its own statement (domain/queries.ts before the read ports moved to src/store/pg).
  if (commands.conversationKindOf)
    return { name, commands, kindOf: (deps, tenant, id) => commands.conversationKindOf(deps, tenant, id) };
  const queries = await import(`${dir}/src/domain/queries.ts`);
  return { name, commands, kindOf: (deps, tenant, id) => queries.conversationKind(deps.db, tenant, id) };
}

const here = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const before = await load(args.before, 'before');
const after = await load(here, 'after');

/** A database migrated by the checkout in `dir`, seeded with the bench's conversations. */
async function world(dir: string) {
  const { tdb, db, deps } = await checkoutDatabase(dir, Number(args.pool));

  // 64 conversations per shape (one per sender slot) so senders mostly meet distinct row locks,
  // as 500 rooms of 2 with 64 senders do.
  const users = Array.from({ length: 640 }, (_, i) => `u${String(i).padStart(4, '0')}`);
  const tenant = await seedTenant(db, users);
  const shapes: Record<string, { id: string; members: string[] }[]> = {
    'rooms of 2': [],
    'groups of 10': [],
  };
  for (let i = 0; i < 500; i++) {
    const a = users[(2 * i) % users.length];
    const b = users[(2 * i + 1) % users.length];
    const r = await after.commands.execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: a,
      to: b,
      input: { body: 'hello' },
    });
    shapes['rooms of 2'].push({ id: r.message.conversation_id, members: [a, b] });
  }
  const { createConversation } = await import('../src/domain/conversations.ts');
  for (let i = 0; i < 64; i++) {
    const members = users.slice(i * 10, i * 10 + 10);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: members[0] },
      { kind: 'group', title: `g${i}`, members: members.slice(1) },
    );
    shapes['groups of 10'].push({ id, members });
  }
  return { tdb, db, deps, tenant, shapes };
}
type World = Awaited<ReturnType<typeof world>>;

const shared = args['own-db'] ? null : await world(here);
const worlds = shared
  ? { before: shared, after: shared }
  : { before: await world(args.before), after: await world(here) };
try {
  const { db } = worlds.after;
  const { rows: settings } = await db.query<{ name: string; setting: string }>(
    "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections')",
  );

  // CPU per send, PostgreSQL backends of this database plus this process: on a shared machine
  // throughput moves with everyone else's load, the CPU a send costs much less.
  const backendCpuMs = async (db: World['db']): Promise<Map<number, number>> => {
    const { rows } = await db.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
    );
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        out.set(pid, ((Number(f[11]) + Number(f[12])) * 1000) / 100); // clock ticks at 100 Hz
      } catch {
        // a backend on another host, or gone: not counted
      }
    }
    return out;
  };

  let seq = 0;
  async function run(impl: Impl, w: World, shape: string) {
    const { db, deps, tenant } = w;
    const convs = w.shapes[shape];
    let next = 0;
    let statements = 0;
    db.onQuery(() => {
      statements++;
    });
    const lat: number[] = [];
    const pg0 = await backendCpuMs(db);
    const node0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (;;) {
          const i = next++;
          if (i >= total) return;
          const conv = convs[i % convs.length];
          const sender = conv.members[i % conv.members.length];
          const n = seq++;
          const s = performance.now();
          const kind = await impl.kindOf(deps, tenant, conv.id);
          const cmd = impl.commands.commandFor(kind, sender, conv.id, {
            body: `message ${n}`,
            client_id: `${impl.name}-${n}`,
          });
          await impl.commands.execute(deps, tenant, cmd);
          lat.push(performance.now() - s);
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const node = process.cpuUsage(node0);
    db.onQuery(null);
    let pgMs = 0;
    for (const [pid, ms] of await backendCpuMs(db)) pgMs += ms - (pg0.get(pid) ?? 0);
    const cpuUs = { pg: (pgMs * 1000) / total, node: (node.user + node.system) / total };
    lat.sort((a, b) => a - b);
    const q = (p: number) => Number(lat[Math.min(lat.length - 1, Math.floor(lat.length * p))].toFixed(1));
    return { perS: total / secs, p50: q(0.5), p99: q(0.99), statementsPerSend: statements / total, cpuUs };
  }

  console.log(
    `PostgreSQL ${settings.map((s) => `${s.name}=${s.setting}`).join(' ')}; ${concurrency} concurrent senders, ${total} sends per run, pool ${args.pool}`,
  );
  for (const shape of Object.keys(worlds.after.shapes)) {
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const b = await run(before, worlds.before, shape);
      const a = await run(after, worlds.after, shape);
      ratios.push(a.perS / b.perS);
      cpuRatios.push((b.cpuUs.pg + b.cpuUs.node) / (a.cpuUs.pg + a.cpuUs.node));
      const fmt = (x: typeof a) =>
        `${x.perS.toFixed(0)}/s (p50 ${x.p50} ms, p99 ${x.p99} ms, ${x.statementsPerSend.toFixed(2)} stmt/send, CPU/send pg ${x.cpuUs.pg.toFixed(0)} µs + node ${x.cpuUs.node.toFixed(0)} µs)`;
      console.log(
        `${shape.padEnd(13)} round ${r + 1}: before ${fmt(b)} | after ${fmt(a)} | ×${(a.perS / b.perS).toFixed(2)}`,
      );
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    console.log(
      `${shape}: median ratio after/before sends/s ×${median(ratios).toFixed(2)}; CPU per send before/after ×${median(cpuRatios).toFixed(2)}`,
    );
  }
} finally {
  for (const w of new Set([worlds.before, worlds.after])) {
    await w.db.close();
    await w.tdb.drop();
  }
}

// The shim every scenario drives: one interface for Herald (1 node with the
// in-process bus, or 2 nodes sharing Redis), the usual Socket.IO design
// (bench/baseline/, two processes sharing Redis) and the plain `ws`
// reference (one process, one room). A scenario describes a World (users and
// rooms), each system provisions it once, then each run starts the system's
// processes, connects clients through the load generator, sends over HTTP
// and reads receive times back — the same code path for all of them.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { type NodeProcess, startNode } from '../../test/support/cluster.ts';
import { REDIS_URL, testPrefix } from '../../test/support/redis.ts';
import { createTestDatabase } from '../../test/support/stores.ts';
import { setupBaseline } from '../baseline/schema.ts';
import type { ClientSpec, Mode } from './loadgen.ts';
import { forkTs, listening, now, stopProc } from './procs.ts';

export type SystemKey = 'herald' | 'herald2' | 'heraldsplit' | 'baseline' | 'ws';

export const SYSTEM_NAMES: Record<SystemKey, string> = {
  herald: 'Herald 1 node',
  herald2: 'Herald 2 nodes',
  heraldsplit: 'Herald split (api+relay │ gateway)',
  baseline: 'usual design',
  ws: '`ws` limit',
};

/**
 * Users are 0…users-1. A room lists user indices; `channel` rooms are sent to
 * by a separate admin user ("sender", never connected); `group` and `direct`
 * rooms by their own members.
 */
export interface World {
  users: number;
  rooms: { kind: 'channel' | 'group' | 'direct'; members: number[] }[];
}

/** Who sends a message: a member (user index) or the channel's admin. */
export type Sender = number | 'admin';

export interface Running {
  key: SystemKey;
  name: string;
  mode: Mode;
  /** Server processes (CPU and RSS are summed over them). */
  pids: number[];
  /** The PostgreSQL database it writes to, if any (its backends' CPU can be read). */
  database?: string;
  /** One client per user index, spread over the server processes; rooms are the user's rooms. */
  clients(users: number[]): ClientSpec[];
  /** The load generator's name for a room (what its frames carry). */
  roomKey(room: number): string;
  /** One message over HTTP; resolves with its seq once the server answered 201. */
  send(room: number, from: Sender, i: number, opts?: { once?: boolean }): Promise<number>;
  stop(): Promise<void>;
}

export interface Deployment {
  key: SystemKey;
  name: string;
  start(): Promise<Running>;
  drop(): Promise<void>;
}

const userId = (i: number) => `u${String(i).padStart(5, '0')}`;

/** The rooms of each user, as indices. */
function roomsByUser(world: World): number[][] {
  const by: number[][] = Array.from({ length: world.users }, () => []);
  world.rooms.forEach((r, k) => {
    for (const u of r.members) by[u].push(k);
  });
  return by;
}

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

export async function call<T>(
  base: string,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

async function pool<T>(n: number, width: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        out[i] = await one(i);
      }
    }),
  );
  return out;
}

// ---- Herald ------------------------------------------------------------------

type HeraldKey = 'herald' | 'herald2' | 'heraldsplit';

/**
 * The processes of each Herald deployment, by the roles each runs (docs/deploy.md). `herald`:
 * one node with every role on the in-process bus; `herald2`: two such nodes on Redis;
 * `heraldsplit`: two nodes on Redis, one serving the HTTP API and the relay, the other the
 * sockets — clients connect to the gateway, sends go to the API node, so a connect storm and
 * the sends do not share an event loop.
 */
const HERALD_NODES: Record<HeraldKey, { roles: string; sends: boolean; sockets: boolean }[]> = {
  herald: [{ roles: 'all', sends: true, sockets: true }],
  herald2: [
    { roles: 'all', sends: true, sockets: true },
    { roles: 'all', sends: true, sockets: true },
  ],
  heraldsplit: [
    { roles: 'api,relay', sends: true, sockets: false },
    { roles: 'gateway', sends: false, sockets: true },
  ],
};

const isHerald = (k: SystemKey): k is HeraldKey => k in HERALD_NODES;

/**
 * Herald on a fresh PostgreSQL database, provisioned through its public HTTP
 * API: a tenant, a token per user, the rooms (channels by the admin user,
 * groups by their first member, direct conversations by `PUT /v1/direct`).
 * Each deployment (HERALD_NODES) of several nodes shares a fresh Redis key prefix per start.
 */
async function prepareHerald(world: World, keys: HeraldKey[], log = console.error): Promise<Deployment[]> {
  const t0 = now();
  const db = await createTestDatabase();
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    HERALD_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    HERALD_DEMO: 'false',
    HERALD_DEV_TOKENS: 'false',
    HERALD_ACCESS_TTL_SEC: '7200',
    // The bench's load is the point: no per-user or per-IP limits in its way.
    HERALD_SEND_RATE_MAX: '1000000',
    HERALD_API_KEY_RATE_MAX: '1000000',
    HERALD_HANDSHAKES_PER_IP_PER_SEC: '1000000',
    HERALD_HANDSHAKE_BURST_PER_IP: '1000000',
    // Clients are closed before a node stops: no drain period to sit out.
    HERALD_DRAIN_GRACE_MS: '0',
  };
  const tokens: string[] = new Array(world.users);
  let adminToken = '';
  const roomIds: string[] = [];
  const node = await startNode(env);
  try {
    const base = node.url;
    const { api_key } = await call<{ api_key: string }>(base, 'POST', '/v1/tenants', env.HERALD_ADMIN_TOKEN, {
      tenant_id: 'bench',
    });
    const mint = async (user: string) =>
      (await call<{ access_token: string }>(base, 'POST', '/v1/tokens', api_key, { user_id: user }))
        .access_token;
    adminToken = await mint('sender');
    await pool(world.users, 16, async (i) => {
      tokens[i] = await mint(userId(i));
    });
    const made = await pool(world.rooms.length, 8, async (k) => {
      const r = world.rooms[k];
      if (r.kind === 'direct') {
        const [a, b] = r.members;
        return (
          await call<{ conversation: { id: string } }>(base, 'PUT', `/v1/direct/${userId(b)}`, tokens[a], {})
        ).conversation.id;
      }
      const creator = r.kind === 'channel' ? adminToken : tokens[r.members[0]];
      const rest = r.kind === 'channel' ? r.members : r.members.slice(1);
      const { conversation } = await call<{ conversation: { id: string } }>(
        base,
        'POST',
        '/v1/conversations',
        creator,
        { kind: r.kind, title: `room ${k}`, members: rest.slice(0, 1000).map(userId) },
      );
      for (let i = 1000; i < rest.length; i += 1000)
        await call(base, 'POST', `/v1/conversations/${conversation.id}/members`, creator, {
          user_ids: rest.slice(i, i + 1000).map(userId),
        });
      return conversation.id;
    });
    roomIds.push(...made);
  } finally {
    await node.kill('SIGKILL');
  }
  log(
    `Herald: provisioned ${world.users} users, ${world.rooms.length} rooms in ${Math.round(now() - t0)} ms`,
  );
  const byUser = roomsByUser(world);
  // The deployments share the database; it is dropped when the last one is.
  let live = keys.length;
  return keys.map((key) => {
    const nodes = HERALD_NODES[key];
    return {
      key,
      name: SYSTEM_NAMES[key],
      async start() {
        const prefix = nodes.length > 1 ? testPrefix() : null;
        const nodeEnv = prefix ? { ...env, REDIS_URL, HERALD_REDIS_PREFIX: prefix.prefix } : env;
        const all: NodeProcess[] = [];
        try {
          for (const n of nodes) all.push(await startNode({ ...nodeEnv, HERALD_ROLES: n.roles }));
        } catch (err) {
          await Promise.all(all.map((p) => p.kill('SIGKILL')));
          throw err;
        }
        const gateways = all.filter((_, k) => nodes[k].sockets);
        const apis = all.filter((_, k) => nodes[k].sends);
        return {
          key,
          name: SYSTEM_NAMES[key],
          mode: 'herald',
          pids: all.map((p) => p.proc.pid as number),
          database: new URL(db.url).pathname.slice(1),
          clients: (users) =>
            users.map((u, k) => ({
              url: gateways[k % gateways.length].wsUrl,
              credential: tokens[u],
              rooms: byUser[u].map((r) => roomIds[r]),
            })),
          roomKey: (room) => roomIds[room],
          async send(room, from, i) {
            const res = await post(
              `${apis[i % apis.length].url}/v1/conversations/${roomIds[room]}/messages`,
              {
                authorization: `Bearer ${from === 'admin' ? adminToken : tokens[from]}`,
                'idempotency-key': randomUUID(),
              },
              { body: `bench message ${i}` },
            );
            const text = await res.text();
            if (res.status !== 201) throw new Error(`Herald send: ${res.status} ${text.slice(0, 200)}`);
            return (JSON.parse(text) as { message: { seq: number } }).message.seq;
          },
          async stop() {
            await Promise.all(
              all.map(async (p) => {
                const killer = setTimeout(() => p.proc.kill('SIGKILL'), 15_000);
                await p.kill('SIGTERM');
                clearTimeout(killer);
              }),
            );
            await prefix?.cleanup();
          },
        };
      },
      async drop() {
        if (--live === 0) await db.drop();
      },
    };
  });
}

// ---- the usual design ------------------------------------------------------------

/** bench/baseline/server.ts ×2 on a fresh database and a fresh Redis channel prefix. */
export async function prepareBaseline(world: World, log = console.error): Promise<Deployment> {
  const t0 = now();
  const db = await createTestDatabase();
  const members = world.rooms.map((r) => [
    ...(r.kind === 'channel' ? ['sender'] : []),
    ...r.members.map(userId),
  ]);
  const roomIds = await setupBaseline(db.url, members);
  log(
    `usual design: provisioned ${world.users} users, ${world.rooms.length} rooms in ${Math.round(now() - t0)} ms`,
  );
  const byUser = roomsByUser(world);
  return {
    key: 'baseline',
    name: SYSTEM_NAMES.baseline,
    async start() {
      const key = `bench-sio-${randomUUID().slice(0, 8)}`;
      const procs: ChildProcess[] = [];
      const ports: number[] = [];
      try {
        for (let n = 0; n < 2; n++) {
          const p = forkTs('../baseline/server.ts', {
            DATABASE_URL: db.url,
            REDIS_URL,
            BASELINE_REDIS_KEY: key,
            PORT: '0',
          });
          procs.push(p);
          ports.push(await listening(p, 'baseline server'));
        }
      } catch (err) {
        await Promise.all(procs.map((p) => stopProc(p, 0)));
        throw err;
      }
      const base = (k: number) => `http://127.0.0.1:${ports[k % ports.length]}`;
      return {
        key: 'baseline',
        name: SYSTEM_NAMES.baseline,
        mode: 'socketio',
        pids: procs.map((p) => p.pid as number),
        database: new URL(db.url).pathname.slice(1),
        clients: (users) =>
          users.map((u, k) => ({
            url: base(k),
            credential: userId(u),
            rooms: byUser[u].map((r) => roomIds[r]),
          })),
        roomKey: (room) => roomIds[room],
        async send(room, from, i) {
          const res = await post(
            `${base(i)}/conversations/${roomIds[room]}/messages`,
            { 'x-user-id': from === 'admin' ? 'sender' : userId(from) },
            { body: `bench message ${i}`, client_id: `b-${i}` },
          );
          const text = await res.text();
          if (res.status !== 201) throw new Error(`baseline send: ${res.status} ${text.slice(0, 200)}`);
          return (JSON.parse(text) as { message: { seq: number } }).message.seq;
        },
        async stop() {
          await Promise.all(procs.map((p) => stopProc(p)));
        },
      };
    },
    drop: () => db.drop(),
  };
}

// ---- the plain ws reference --------------------------------------------------------

/** support/plain-ws-server.ts: one process, one room holding every socket (single-room worlds only). */
export function preparePlain(world: World): Deployment {
  if (world.rooms.length !== 1) throw new Error('the plain ws reference serves one room');
  return {
    key: 'ws',
    name: SYSTEM_NAMES.ws,
    async start() {
      const proc = forkTs('plain-ws-server.ts');
      const port = await listening(proc, 'plain ws server');
      return {
        key: 'ws',
        name: SYSTEM_NAMES.ws,
        mode: 'plain',
        pids: [proc.pid as number],
        clients: (users) => users.map(() => ({ url: `ws://127.0.0.1:${port}/`, credential: '', rooms: [] })),
        roomKey: () => '*',
        async send(_room, _from, i, opts) {
          // DESIGN §12's "ws alone" is one pre-serialized buffer for every socket: ?once=1.
          const res = await post(
            `http://127.0.0.1:${port}/send${opts?.once === false ? '' : '?once=1'}`,
            {},
            {
              body: `bench message ${i}`,
              client_id: `b-${i}`,
            },
          );
          if (res.status !== 201) throw new Error(`plain ws send: ${res.status}`);
          return ((await res.json()) as { message: { seq: number } }).message.seq;
        },
        stop: () => stopProc(proc, 0),
      };
    },
    drop: async () => {},
  };
}

/** Which systems to run: BENCH_SYSTEMS (comma list of herald, herald2, heraldsplit, baseline, ws), default all. */
export function selectedSystems(applicable: SystemKey[]): SystemKey[] {
  const want = process.env.BENCH_SYSTEMS?.split(',').map((s) => s.trim());
  return applicable.filter((k) => !want || want.includes(k));
}

/** Provisions `world` for each system, in the order given (Herald's 1- and 2-node runs share one database). */
export async function prepareAll(
  keys: SystemKey[],
  world: World,
  log = console.error,
): Promise<Deployment[]> {
  const heralds = keys.filter(isHerald);
  const herald = heralds.length ? await prepareHerald(world, heralds, log) : [];
  const out: Deployment[] = [];
  for (const k of keys) {
    if (isHerald(k)) out.push(herald.find((d) => d.key === k) as Deployment);
    else if (k === 'baseline') out.push(await prepareBaseline(world, log));
    else out.push(preparePlain(world));
  }
  return out;
}

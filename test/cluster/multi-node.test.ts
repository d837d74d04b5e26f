// Many nodes on Redis (DESIGN §1, §6): real `herald serve` processes sharing
// one PostgreSQL database and one Redis key prefix; any node takes any user.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { redisConnections } from '../../src/registry/redis-connections.ts';
import { redisPresence } from '../../src/registry/redis-presence.ts';
import { Client, until } from '../gateway/harness.ts';
import { type NodeProcess, startNode } from '../support/cluster.ts';
import { counterDrift, recountedEntries } from '../support/invariants.ts';
import { REDIS_URL, redisAvailable, ThrowawayRedis, testPrefix, waitFor } from '../support/redis.ts';
import { createTestDatabase } from '../support/stores.ts';
import { Follower } from './follower.ts';

const enabled = redisAvailable() && process.env.HERALD_TEST_PG !== '';

interface Cluster {
  env: Record<string, string>;
  nodes: NodeProcess[];
  prefix: string;
  cleanup(): Promise<void>;
}

async function cluster(redisUrl = REDIS_URL): Promise<Cluster> {
  const db = await createTestDatabase();
  const p = testPrefix();
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    HERALD_REDIS_PREFIX: p.prefix,
    HERALD_JWT_SECRET: randomBytes(32).toString('hex'),
    HERALD_ADMIN_TOKEN: randomBytes(16).toString('hex'),
    HERALD_RELAY_POLL_MS: '100',
    // Short windows so dead nodes' entries age out within the test.
    HERALD_PRESENCE_WINDOW_MS: '3000',
    HERALD_PING_INTERVAL_MS: '1000',
    // These tests send as fast as they can; rate limits have their own tests.
    HERALD_SEND_RATE_MAX: '100000',
  };
  const c: Cluster = {
    env,
    nodes: [],
    prefix: p.prefix,
    async cleanup() {
      await Promise.all(c.nodes.map((n) => n.kill('SIGKILL')));
      await db.drop();
      if (redisUrl === REDIS_URL) await p.cleanup();
    },
  };
  return c;
}

/** After a fault (docs/reliability.md): no node died unless killed, and unread counters recount from the log. */
async function expectAfterFault(c: Cluster, w: World, killed: NodeProcess[] = []): Promise<void> {
  for (const n of c.nodes) {
    if (killed.includes(n)) continue;
    expect(n.proc.exitCode ?? n.proc.signalCode, `a node exited on its own:\n${n.output()}`).toBeNull();
  }
  const db = new pg.Client({ connectionString: c.env.DATABASE_URL });
  await db.connect();
  try {
    const q = {
      query: async (text: string, params?: unknown[]) => ({ rows: (await db.query(text, params)).rows }),
    };
    expect(await recountedEntries(q, w.tenant)).toBeGreaterThan(0);
    expect(await counterDrift(q, w.tenant)).toEqual([]);
  } finally {
    await db.end();
  }
}

async function http<T>(
  node: NodeProcess,
  method: string,
  path: string,
  auth: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

interface World {
  tenant: string;
  token: Record<string, string>;
  direct: string;
  group: string;
  channel: string;
}

/** A tenant with alice, bob and carol, a direct pair, a group and a channel. */
async function world(c: Cluster, node: NodeProcess): Promise<World> {
  const { tenant_id, api_key } = await http<{ tenant_id: string; api_key: string }>(
    node,
    'POST',
    '/v1/tenants',
    c.env.HERALD_ADMIN_TOKEN,
    { name: 'cluster test' },
  );
  const token: Record<string, string> = {};
  for (const u of ['alice', 'bob', 'carol']) {
    token[u] = (
      await http<{ access_token: string }>(node, 'POST', '/v1/tokens', api_key, { user_id: u })
    ).access_token;
  }
  type Conv = { conversation: { id: string } };
  const direct = (await http<Conv>(node, 'PUT', '/v1/direct/bob', token.alice)).conversation.id;
  const group = (
    await http<Conv>(node, 'POST', '/v1/conversations', token.alice, {
      kind: 'group',
      title: 'g',
      members: ['bob', 'carol'],
    })
  ).conversation.id;
  const channel = (
    await http<Conv>(node, 'POST', '/v1/conversations', token.alice, { kind: 'channel', title: 'c' })
  ).conversation.id;
  await http(node, 'POST', `/v1/conversations/${channel}/join`, token.bob);
  return { tenant: tenant_id, token, direct, group, channel };
}

async function send(node: NodeProcess, token: string, conversation: string, body: string): Promise<number> {
  const { message } = await http<{ message: { seq: number } }>(
    node,
    'POST',
    `/v1/conversations/${conversation}/messages`,
    token,
    { body },
  );
  return message.seq;
}

async function ws(node: NodeProcess, token: string): Promise<Client> {
  const c = new Client(new WebSocket(node.wsUrl, { headers: { authorization: `Bearer ${token}` } }));
  await until(() => c.opened || c.closed || c.unexpected, 'socket open');
  await c.next('welcome');
  return c;
}

describe.runIf(enabled)('many nodes on Redis', () => {
  const clusters: Cluster[] = [];
  const followers: Follower[] = [];
  afterEach(() => {
    for (const f of followers.splice(0)) f.close();
  });
  afterAll(async () => {
    for (const c of clusters) await c.cleanup();
  });

  it('users on different nodes exchange direct, group and channel messages, typing, presence and read state', async () => {
    const c = await cluster();
    clusters.push(c);
    c.nodes.push(await startNode(c.env), await startNode(c.env));
    const [n1, n2] = c.nodes;
    const w = await world(c, n1);

    const alice = await ws(n1, w.token.alice);
    const bob = await ws(n2, w.token.bob);
    for (const conv of [w.direct, w.group, w.channel]) {
      for (const cl of [alice, bob]) {
        cl.send({ type: 'subscribe', conversation: conv, since_seq: 0 });
        await cl.next('subscribed', (f) => f.conversation === conv);
      }
    }
    // Alice writes on node 1, Bob on node 2, over the socket.
    let n = 0;
    for (const conv of [w.direct, w.group, w.channel]) {
      for (const [who, cl] of [
        ['alice', alice],
        ['bob', bob],
      ] as const) {
        const client_id = `${who}-${n++}`;
        cl.send({ type: 'send', conversation: conv, client_id, body: `hello from ${who}` });
        await cl.next('ack', (f) => f.client_id === client_id);
      }
    }
    for (const conv of [w.direct, w.group, w.channel]) {
      const head = Math.max(
        ...alice.of('ack', (f) => f.conversation === conv).map((f) => f.seq),
        ...bob.of('ack', (f) => f.conversation === conv).map((f) => f.seq),
      );
      for (const cl of [alice, bob]) {
        await until(() => cl.seqs(conv).includes(head), `seq ${head} of ${conv}`);
        const seqs = cl.seqs(conv);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0] + i)); // gapless, in order
        expect(seqs.at(-1)).toBe(head);
      }
    }

    // Typing crosses nodes on the ephemeral topic.
    alice.send({ type: 'typing', conversation: w.direct });
    await bob.next('typing', (f) => f.conversation === w.direct && f.user_id === 'alice');

    // Presence crosses nodes.
    bob.send({ type: 'heartbeat', status: 'active' });
    await alice.next(
      'presence',
      (f) => (f.entries ?? []).some((e: { user_id: string }) => e.user_id === 'bob'),
      15_000,
    );

    // Bob views the direct thread on node 2; Alice's next message (node 1) arrives read.
    bob.send({ type: 'view', conversation: w.direct });
    await waitFor(
      async () => {
        // The view frame is processed asynchronously; probe with the inbox until it took effect.
        const seq = await send(n1, w.token.alice, w.direct, 'are you there?');
        const { entries } = await http<{
          entries: { conversation_id: string; last_read_seq: number; unread_count: number }[];
        }>(n2, 'GET', '/v1/inbox', w.token.bob);
        const e = entries.find((x) => x.conversation_id === w.direct);
        return e?.last_read_seq === seq && e.unread_count === 0;
      },
      10_000,
      'message to a viewer arriving read',
    );
    alice.close();
    bob.close();
  });

  it('survives SIGKILL of a node: clients resume on a survivor with every event once, and the dead node ages out', async () => {
    const c = await cluster();
    clusters.push(c);
    c.nodes.push(await startNode(c.env), await startNode(c.env));
    const [n1, n2] = c.nodes;
    const w = await world(c, n2);

    const bob = new Follower(w.token.bob, [w.group]);
    followers.push(bob);
    await bob.connect(n1.wsUrl, n1.url);
    bob.client?.send({ type: 'heartbeat', status: 'active' });

    let head = 0;
    for (let i = 0; i < 20; i++) head = await send(n2, w.token.alice, w.group, `before ${i}`);
    await bob.caughtUp({ [w.group]: head });

    const sending = (async () => {
      for (let i = 0; i < 40; i++) head = await send(n2, w.token.alice, w.group, `during ${i}`);
    })();
    await n1.kill('SIGKILL');
    await until(() => bob.client?.closed, 'the socket to drop');
    await bob.connect(n2.wsUrl, n2.url);
    await sending;
    await bob.caughtUp({ [w.group]: head });
    expect(bob.applied.get(w.group)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
    await expectAfterFault(c, w, [n1]);

    // The dead node's connection-registry and presence entries age out by score.
    const redis = new Redis(REDIS_URL);
    try {
      const connections = redisConnections(redis, { prefix: c.prefix });
      const presence = redisPresence(redis, { prefix: c.prefix, windowMs: 3000 });
      await waitFor(
        async () => {
          const conns = await connections.ofUser(w.tenant, 'bob', Date.now());
          return conns.length === 1; // only the socket on n2 is left
        },
        15_000,
        'dead node connections to expire',
      );
      bob.close();
      await waitFor(
        async () => (await presence.list(w.tenant, ['bob'], Date.now())).length === 0,
        15_000,
        'presence to age out',
      );
    } finally {
      await redis.quit();
    }
  });

  it('recovers from a Redis restart: nothing committed is lost once clients catch up', async () => {
    const redisServer = await ThrowawayRedis.start();
    try {
      const c = await cluster(redisServer.url);
      clusters.push(c);
      c.nodes.push(await startNode(c.env), await startNode(c.env));
      const [n1, n2] = c.nodes;
      const w = await world(c, n1);
      const bob = new Follower(w.token.bob, [w.group]);
      followers.push(bob);
      await bob.connect(n2.wsUrl, n2.url);

      let head = 0;
      const sending = (async () => {
        for (let i = 0; i < 60; i++) {
          head = await send(n1, w.token.alice, w.group, `m ${i}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await until(() => head >= 15, 'some messages sent');
      await redisServer.down();
      await new Promise((r) => setTimeout(r, 1000));
      await redisServer.up();
      await sending;
      // No further frame is needed to trigger repair: the nodes resync by themselves.
      await bob.caughtUp({ [w.group]: head }, 30_000);
      expect(bob.applied.get(w.group)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
      // Repaired by the node's resync from the store, not by the client's HTTP gap repair.
      expect(bob.repaired).toBe(0);
      // The nodes' subscriptions came back: a new message is delivered live.
      const next = await send(n1, w.token.alice, w.group, 'after recovery');
      await until(() => bob.client?.seqs(w.group).includes(next), 'live delivery after the restart', 15_000);
      await expectAfterFault(c, w);
    } finally {
      await redisServer.stop();
    }
  });

  it('a node started later serves catch-up, and a frozen node does not slow the others', async () => {
    const c = await cluster();
    clusters.push(c);
    c.nodes.push(await startNode(c.env), await startNode(c.env));
    const [n1, n2] = c.nodes;
    const w = await world(c, n1);
    let head = 0;
    for (let i = 0; i < 30; i++) head = await send(n1, w.token.alice, w.group, `early ${i}`);

    const n3 = await startNode(c.env);
    c.nodes.push(n3);
    const carol = new Follower(w.token.carol, [w.group]);
    followers.push(carol);
    await carol.connect(n3.wsUrl, n3.url);
    await carol.caughtUp({ [w.group]: head });
    expect(carol.repaired).toBe(0); // served by the node's replay, not by HTTP repair

    const bob = new Follower(w.token.bob, [w.group]);
    followers.push(bob);
    await bob.connect(n1.wsUrl, n1.url);
    n2.proc.kill('SIGSTOP'); // a node that stops reading altogether
    try {
      for (let i = 0; i < 20; i++) head = await send(n1, w.token.alice, w.group, `while frozen ${i}`);
      await bob.caughtUp({ [w.group]: head });
      await carol.caughtUp({ [w.group]: head });
    } finally {
      n2.proc.kill('SIGCONT');
    }
  });
});

// DESIGN §6, large channels: a message writes O(1) rows and publishes O(1) bus messages, yet a
// connected member who is not viewing the channel sees its inbox entry move within a
// second, from an `inbox_hint` the node derives from the one room topic it listens to.
// Real store, real node (HTTP + gateway + relay), real SDK clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { Bus } from '../../src/bus/port.ts';
import type { HeraldClient } from '../../src/client/index.ts';
import { inboxOf, outboxHead, outboxOf, roomTopic, userTopic } from '../domain/support.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { REDIS_URL, redisAvailable, testPrefix, waitFor } from '../support/redis.ts';
import { sdkClient } from '../support/sdk-client.ts';
import { type Backend, backends } from '../support/stores.ts';

/** Counts what is published on the bus, by topic. */
function countPublishes(bus: Bus): { byTopic: Map<string, number>; stop(): void } {
  const byTopic = new Map<string, number>();
  const add = (topic: string) => byTopic.set(topic, (byTopic.get(topic) ?? 0) + 1);
  const { publish, publishMany } = bus;
  bus.publish = (topic, payload) => {
    add(topic);
    return publish.call(bus, topic, payload);
  };
  bus.publishMany = (messages) => {
    for (const m of messages) add(m.topic);
    return publishMany.call(bus, messages);
  };
  return {
    byTopic,
    stop() {
      bus.publish = publish;
      bus.publishMany = publishMany;
    },
  };
}

const MEMBERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

describe.each(backends())('large-channel inbox hints (%s)', (backend: Backend) => {
  let t: TestHerald;
  const clients: HeraldClient[] = [];
  beforeAll(async () => {
    t = await startTestHerald({
      backend,
      listen: true,
      // As in the defaults (100 under 1,000), per-recipient receipts stop below the large-channel
      // threshold: a connected member's delivered ack then writes no receipt that the O(1)
      // count below could see, depending on when it lands.
      env: {
        HERALD_LARGE_CHANNEL_THRESHOLD: '5',
        HERALD_RECEIPT_DETAIL_MAX: '5',
        HERALD_SEND_RATE_MAX: '10000',
      },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await t?.close();
  });

  const client = (tenant: string, user: string) => sdkClient(t, tenant, user, { clients });

  /** A channel of the 8 members (threshold 5: large), created by alice; carol has muted it. */
  async function largeChannel(): Promise<{ tenant: string; conv: string; pairs: Map<string, TokenPair> }> {
    const { tenant_id: tenant } = await t.createTenant();
    const pairs = new Map<string, TokenPair>();
    for (const u of MEMBERS) pairs.set(u, await t.mintUser(tenant, u));
    const created = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(pairs.get('alice') as TokenPair),
      payload: { kind: 'channel', title: 'big', members: MEMBERS.slice(1) },
    });
    expect(created.status).toBe(201);
    const conv = created.body.conversation.id;
    const muted = await t.call({
      method: 'PATCH',
      url: `/v1/inbox/${conv}`,
      headers: t.bearer(pairs.get('carol') as TokenPair),
      payload: { muted: true },
    });
    expect(muted.status).toBe(200);
    return { tenant, conv, pairs };
  }

  const post = (pair: TokenPair, conv: string, body: string) =>
    t.call<{ message: { seq: number } }>({
      method: 'POST',
      url: `/v1/conversations/${conv}/messages`,
      headers: t.bearer(pair),
      payload: { body },
    });

  it('a message writes O(1) rows and bus messages; connected non-viewers see it within a second', async () => {
    const { tenant, conv, pairs } = await largeChannel();
    const core = t.herald.gateway.core;
    const bob = await client(tenant, 'bob');
    const carol = await client(tenant, 'carol');
    const dave = await client(tenant, 'dave');
    const erin = await client(tenant, 'erin');
    const all = [bob, carol, dave, erin];
    await waitFor(
      () => all.every((c) => c.inbox.get(conv)) && carol.inbox.get(conv)?.muted === true,
      10_000,
      'inbox synced',
    );
    // Erin has the channel open (subscribed, not viewing): her inbox moves by hints too. Dave
    // views it: his entry is written (read) with every message, so he gets no hint.
    const erinRoom = erin.open(conv);
    const daveRoom = dave.open(conv);
    dave.view(conv);
    await waitFor(
      async () =>
        erinRoom.status === 'subscribed' &&
        daveRoom.status === 'subscribed' &&
        (await t.herald.deps.viewing.viewers(tenant, conv)).has('dave'),
      10_000,
      'subscribed and viewing',
    );
    // One room listener on this node serves four member connections and two subscriptions.
    await waitFor(() => core.hints.memberCount(tenant, conv) === 4, 10_000, 'hints live');
    expect(core.hints.size).toBe(1);
    expect(core.hub.listenerCount(roomTopic(tenant, conv))).toBe(3);

    const before = new Map((await inboxOf(t.db, tenant, conv)).map((e) => [e.user_id, e.version]));
    const head = await outboxHead(t.db);
    const bus = countPublishes(t.herald.bus);
    const versions = new Map(all.map((c, i) => [i, c.inbox.get(conv)?.version]));
    // Changes of dave's entry that kept its version: hints (there must be none).
    const daveHints: number[] = [];
    dave.inbox.on('change', ({ entries }) => {
      for (const e of entries)
        if (e.conversation_id === conv && e.version === versions.get(2)) daveHints.push(e.last_seq);
    });
    let sent: { seq: number };
    try {
      const res = await post(pairs.get('alice') as TokenPair, conv, 'hello everyone');
      expect(res.status).toBe(201);
      sent = res.body.message;
      await waitFor(() => bob.inbox.get(conv)?.last_seq === sent.seq, 1_000, 'bob hinted within a second');
      // Wait for the relay to publish everything the send wrote before counting.
      await waitFor(
        async () => (await outboxOf(t.db, tenant, head)).every((r) => r.published),
        10_000,
        'relay',
      );
    } finally {
      bus.stop();
    }

    // O(1) rows: the room's event, the sender's inbox frame, and for the one viewer a receipt
    // (to the room) and an inbox frame; no other entry touched, however many members are connected.
    const room = roomTopic(tenant, conv);
    const out = await outboxOf(t.db, tenant, head);
    expect(out.map((r) => r.topic).sort()).toEqual(
      [room, room, userTopic(tenant, 'alice'), userTopic(tenant, 'dave')].sort(),
    );
    expect(
      out
        .filter((r) => r.topic === room)
        .map((r) => (r.payload as { type: string }).type)
        .sort(),
    ).toEqual(['event', 'receipt']);
    const after = await inboxOf(t.db, tenant, conv);
    const changed = after.filter((e) => e.version !== before.get(e.user_id)).map((e) => e.user_id);
    expect(changed.sort()).toEqual(['alice', 'dave']);
    // O(1) bus messages: the same four (the ephemeral topic's presence batches are
    // timer-driven, not per message).
    const durable = [...bus.byTopic.entries()].filter(([topic]) => !topic.includes(':e:'));
    expect(durable.sort()).toEqual(
      [
        [room, 2],
        [userTopic(tenant, 'alice'), 1],
        [userTopic(tenant, 'dave'), 1],
      ].sort(),
    );

    // Bob's entry: raised in place (version kept), unread derived from his last_read_seq.
    const b = bob.inbox.get(conv);
    expect(b?.version).toBe(versions.get(0));
    expect(b?.unread_count).toBe(sent.seq - (b?.last_read_seq ?? 0));
    expect(b?.unread_count).toBeGreaterThan(0);
    expect(b?.last_message?.body).toBe('hello everyone');
    expect(b?.last_message?.seq).toBe(sent.seq);
    expect(bob.inbox.totals().unread).toBe(b?.unread_count);
    // Carol muted it: last_seq moves, her badge does not.
    await waitFor(() => carol.inbox.get(conv)?.last_seq === sent.seq, 5_000, 'carol hinted');
    expect(carol.inbox.totals().unread).toBe(0);
    // Erin, subscribed, is hinted; dave, viewing, gets his written entry, read, and no hint.
    await waitFor(() => erin.inbox.get(conv)?.last_seq === sent.seq, 5_000, 'erin hinted');
    expect(erin.inbox.get(conv)?.version).toBe(versions.get(3));
    await waitFor(() => dave.inbox.get(conv)?.last_read_seq === sent.seq, 5_000, 'dave read');
    expect(dave.inbox.get(conv)?.unread_count).toBe(0);
    expect(daveHints).toEqual([]);

    // A later real entry (higher version) still wins: bob reads, the server's entry settles it.
    bob.read(conv, sent.seq);
    await waitFor(() => (bob.inbox.get(conv)?.version ?? 0) > (versions.get(0) ?? 0), 10_000, 'read entry');
    expect(bob.inbox.get(conv)?.unread_count).toBe(0);
    expect(bob.inbox.get(conv)?.last_seq).toBe(sent.seq);
  });

  it('coalesces a burst to at most one hint per second, the latest winning', async () => {
    const { tenant, conv, pairs } = await largeChannel();
    const bob = await client(tenant, 'bob');
    await waitFor(() => t.herald.gateway.core.hints.memberCount(tenant, conv) === 1, 10_000, 'hints live');
    await waitFor(() => bob.inbox.get(conv) !== undefined, 10_000, 'inbox synced');
    const changes: number[] = [];
    bob.inbox.on('change', ({ entries }) => {
      for (const e of entries) if (e.conversation_id === conv) changes.push(e.last_seq);
    });
    const started = Date.now();
    let last = 0;
    for (let i = 0; i < 6; i++)
      last = (await post(pairs.get('alice') as TokenPair, conv, `m${i}`)).body.message.seq;
    await waitFor(() => bob.inbox.get(conv)?.last_seq === last, 5_000, 'latest hinted');
    const seconds = (Date.now() - started) / 1000;
    // The first at once, then at most one per interval started.
    expect(changes.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    expect(changes.length).toBeLessThan(6);
    expect(changes).toEqual([...changes].sort((a, b) => a - b));
    expect(bob.inbox.get(conv)?.last_message?.body).toBe('m5');
  });

  it('a member who leaves stops getting hints; one who joins starts', async () => {
    const { tenant, conv, pairs } = await largeChannel();
    const core = t.herald.gateway.core;
    const bob = await client(tenant, 'bob');
    const ivan = await client(tenant, 'ivan');
    await waitFor(() => core.hints.memberCount(tenant, conv) === 1, 10_000, 'bob hinted');

    const left = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${conv}/members/bob`,
      headers: t.bearer(pairs.get('bob') as TokenPair),
    });
    expect(left.status).toBe(200);
    await waitFor(() => core.hints.memberCount(tenant, conv) === 0, 10_000, 'bob no longer hinted');
    expect(core.hub.listenerCount(roomTopic(tenant, conv))).toBe(0);

    const joined = await t.call({
      method: 'POST',
      url: `/v1/conversations/${conv}/join`,
      headers: t.bearer(await t.mintUser(tenant, 'ivan')),
    });
    expect(joined.status).toBeLessThan(300);
    await waitFor(() => core.hints.memberCount(tenant, conv) === 1, 10_000, 'ivan hinted');
    await waitFor(() => ivan.inbox.get(conv) !== undefined, 10_000, 'ivan has the entry');
    const sent = (await post(pairs.get('alice') as TokenPair, conv, 'welcome ivan')).body.message;
    await waitFor(() => ivan.inbox.get(conv)?.last_seq === sent.seq, 5_000, 'ivan hinted');
    expect(ivan.inbox.get(conv)?.unread_count).toBe(1);
    expect(bob.inbox.get(conv)).toBeUndefined();
    expect(bob.inbox.isRemoved(conv)).toBe(true);
  });
  it('an SSE stream gets the same hint as a socket', async () => {
    const { tenant, conv, pairs } = await largeChannel();
    const core = t.herald.gateway.core;
    const ctrl = new AbortController();
    const res = await fetch(`${t.url}/v1/sse`, {
      headers: t.bearer(pairs.get('bob') as TokenPair),
      signal: ctrl.signal,
    });
    expect(res.status).toBe(200);
    const frames: { type: string; last_seq?: number; conversation?: string }[] = [];
    const reading = (async () => {
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += dec.decode(value, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const data = buf
            .slice(0, i)
            .split('\n')
            .find((l) => l.startsWith('data: '));
          buf = buf.slice(i + 2);
          if (data) frames.push(JSON.parse(data.slice(6)));
        }
      }
    })().catch(() => {});
    try {
      await waitFor(() => core.hints.memberCount(tenant, conv) === 1, 10_000, 'stream hinted');
      const sent = (await post(pairs.get('alice') as TokenPair, conv, 'over sse')).body.message;
      await waitFor(
        () => frames.some((f) => f.type === 'inbox_hint' && f.last_seq === sent.seq),
        5_000,
        'hint on the stream',
      );
      expect(frames.filter((f) => f.type === 'inbox_hint')).toHaveLength(1);
    } finally {
      ctrl.abort();
      await reading;
    }
    await waitFor(() => core.hints.memberCount(tenant, conv) === 0, 10_000, 'stream gone, hints stopped');
  });

  it('a channel that grows past the threshold while a member is connected is hinted after the check', async () => {
    const { tenant_id: tenant } = await t.createTenant();
    const alice = await t.mintUser(tenant, 'alice');
    for (const u of MEMBERS) await t.mintUser(tenant, u);
    // Five members: at the threshold, not above it — a small channel, no hints.
    const created = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(alice),
      payload: { kind: 'channel', title: 'growing', members: MEMBERS.slice(1, 5) },
    });
    const conv = created.body.conversation.id;
    const core = t.herald.gateway.core;
    const tracked = core.hints.tracked;
    const bob = await client(tenant, 'bob');
    await waitFor(() => bob.inbox.get(conv) !== undefined, 10_000, 'inbox synced');
    await waitFor(() => core.hints.tracked === tracked + 1, 10_000, 'memberships loaded');
    await core.hints.recheck();
    expect(core.hints.memberCount(tenant, conv)).toBe(0);

    const added = await t.call({
      method: 'POST',
      url: `/v1/conversations/${conv}/members`,
      headers: t.bearer(alice),
      payload: { user_ids: ['frank'] },
    });
    expect(added.status).toBe(200);
    // Bob got no frame for the join (a large channel's system event touches no entry).
    await core.hints.recheck();
    await waitFor(() => core.hints.memberCount(tenant, conv) === 1, 5_000, 'bob hinted from the check');
    const sent = (await post(alice, conv, 'now large')).body.message;
    await waitFor(() => bob.inbox.get(conv)?.last_seq === sent.seq, 5_000, 'bob hinted');
    expect(bob.inbox.get(conv)?.last_message?.body).toBe('now large');
  });
});

describe.runIf(backends().includes('postgres') && redisAvailable())(
  'large-channel inbox hints, two nodes over Redis',
  () => {
    let a: TestHerald;
    let b: TestHerald;
    const redis = testPrefix();
    const clients: HeraldClient[] = [];
    beforeAll(async () => {
      const env = {
        REDIS_URL,
        HERALD_REDIS_PREFIX: redis.prefix,
        HERALD_LARGE_CHANNEL_THRESHOLD: '5',
        HERALD_RECEIPT_DETAIL_MAX: '5',
        HERALD_SEND_RATE_MAX: '10000',
      };
      a = await startTestHerald({ backend: 'postgres', listen: true, env });
      b = await startTestHerald({ db: a.db, listen: true, env });
    }, 60_000);
    afterAll(async () => {
      for (const c of clients) c.disconnect();
      await b?.close();
      await a?.close();
      await redis.cleanup();
    });

    /** A client on `node`, with a token that node signed (each node has its own test secret). */
    const client = (node: TestHerald, tenant: string, user: string) =>
      sdkClient(node, tenant, user, { clients });

    it("each node listens once per channel and derives its members' hints; the bus carries O(1) per message", async () => {
      const { tenant_id: tenant } = await a.createTenant();
      const alice = await a.mintUser(tenant, 'alice');
      for (const u of MEMBERS) await a.mintUser(tenant, u);
      const created = await a.call<{ conversation: { id: string } }>({
        method: 'POST',
        url: '/v1/conversations',
        headers: a.bearer(alice),
        payload: { kind: 'channel', title: 'big', members: MEMBERS.slice(1) },
      });
      expect(created.status).toBe(201);
      const conv = created.body.conversation.id;
      // Three members on node a, three on node b.
      const onA = await Promise.all(['bob', 'carol', 'dave'].map((u) => client(a, tenant, u)));
      const onB = await Promise.all(['erin', 'frank', 'grace'].map((u) => client(b, tenant, u)));
      await waitFor(
        () =>
          a.herald.gateway.core.hints.memberCount(tenant, conv) === 3 &&
          b.herald.gateway.core.hints.memberCount(tenant, conv) === 3,
        10_000,
        'hints live on both nodes',
      );
      const everyone = [...onA, ...onB];
      await waitFor(() => everyone.every((c) => c.inbox.get(conv)), 10_000, 'inbox synced');
      for (const node of [a, b])
        expect(node.herald.gateway.core.hub.listenerCount(roomTopic(tenant, conv))).toBe(1);

      const head = await outboxHead(a.db);
      const busA = countPublishes(a.herald.bus);
      const busB = countPublishes(b.herald.bus);
      let seq = 0;
      try {
        const res = await a.call<{ message: { seq: number } }>({
          method: 'POST',
          url: `/v1/conversations/${conv}/messages`,
          headers: a.bearer(alice),
          payload: { body: 'to both nodes' },
        });
        expect(res.status).toBe(201);
        seq = res.body.message.seq;
        await waitFor(() => everyone.every((c) => c.inbox.get(conv)?.last_seq === seq), 5_000, 'all hinted');
        await waitFor(
          async () => (await outboxOf(a.db, tenant, head)).every((r) => r.published),
          10_000,
          'relay',
        );
      } finally {
        busA.stop();
        busB.stop();
      }
      for (const c of everyone)
        expect(c.inbox.get(conv)?.unread_count).toBe(seq - (c.inbox.get(conv)?.last_read_seq ?? 0));
      // Whichever node's relay published them: the room's frame and the sender's entry, once each.
      const total = new Map<string, number>();
      for (const m of [busA.byTopic, busB.byTopic])
        for (const [topic, n] of m) if (!topic.includes(':e:')) total.set(topic, (total.get(topic) ?? 0) + n);
      expect([...total.entries()].sort()).toEqual(
        [
          [roomTopic(tenant, conv), 1],
          [userTopic(tenant, 'alice'), 1],
        ].sort(),
      );
      expect((await outboxOf(a.db, tenant, head)).length).toBe(2);
    });
  },
);

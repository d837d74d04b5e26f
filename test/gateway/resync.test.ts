// Membership and bus loss: a `left` of the subscriber ends the subscription
// whether it arrives live, in the subscribe replay or in the resync after the
// bus lost messages; a resync buffers every live subscription before reading
// the store, and reads the store once per conversation per node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/port.ts';
import { execute } from '../../src/domain/commands.ts';
import { addMembers, createConversation, removeMember } from '../../src/domain/conversations.ts';
import type { Sql } from '../../src/domain/ports.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { connect, type Node, published, startNode, subscribe, until } from './harness.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const REPLAY = 'LEFT JOIN LATERAL';

/**
 * The node's bus as one gateway sees it, with a switch: while down, deliveries to this
 * gateway are lost (pub/sub); up() fires onResync, as the Redis bus does after a reconnect.
 */
function flakyBus(inner: Bus) {
  let down = false;
  const listeners = new Set<() => void>();
  const bus: Bus = {
    kind: inner.kind,
    publish: (topic, payload) => inner.publish(topic, payload),
    publishMany: (messages) => inner.publishMany(messages),
    subscribe: (topic, handler) =>
      inner.subscribe(topic, (payload, t) => {
        if (!down) handler(payload, t);
      }),
    onResync(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    healthy: () => !down,
    close: async () => {},
  };
  return {
    bus,
    down() {
      down = true;
    },
    up() {
      down = false;
      for (const l of [...listeners]) l();
    },
  };
}

describe.each(backends())('gateway membership and resync (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(store.db);
  });
  afterAll(async () => {
    await node?.close();
    await store?.close();
  });

  const alice = { type: 'user', user_id: 'alice' } as const;

  async function setup() {
    const tenant = await seedTenant(store.db, ['alice', 'bob', 'carol']);
    const deps = node.herald.deps;
    const group = (
      await createConversation(deps, tenant, alice, { kind: 'group', title: 'g', members: ['bob', 'carol'] })
    ).id;
    const other = (
      await createConversation(deps, tenant, alice, { kind: 'group', title: 'o', members: ['bob'] })
    ).id;
    await published(store.db, tenant);
    const post = async (conversation: string, body: string) =>
      (
        await execute(deps, tenant, {
          kind: 'GroupMessage',
          sender: 'alice',
          conversation,
          input: { body },
        })
      ).message.seq;
    const head = async (conversation: string) => {
      const { rows } = await store.db.query<{ last_seq: number }>(
        'SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2',
        [tenant, conversation],
      );
      return Number(rows[0].last_seq);
    };
    return { tenant, deps, group, other, post, head };
  }

  /** A db whose replay reads are counted, and wait for `before(conversation)` while it is set. */
  function hookedDb() {
    const db = node.herald.deps.db;
    const reads: string[] = [];
    let before: ((conversation: string) => Promise<void>) | null = null;
    const hooked: Sql & typeof db = {
      ...db,
      async query(text: string, params?: unknown[]) {
        if (text.includes(REPLAY)) {
          const conversation = String(params?.[1]);
          reads.push(conversation);
          if (before) await before(conversation);
        }
        return db.query(text, params) as never;
      },
    };
    return {
      db: hooked,
      reads,
      beforeReads(fn: ((conversation: string) => Promise<void>) | null) {
        before = fn;
      },
    };
  }

  it('a removal after the bus topic was joined and before the subscribe read refuses the subscribe; nothing of the room leaks', async () => {
    // The access check and the replay are one read (one snapshot): a removal committed before
    // it is a refusal; one after it is a live `left` above memberAt (delivery.test.ts).
    const { tenant, deps, group, post } = await setup();
    await post(group, 'before');
    const hooked = hookedDb();
    const racy = await node.serve({ deps: { ...deps, db: hooked.db } });
    hooked.beforeReads(async () => {
      hooked.beforeReads(null);
      await removeMember(deps, tenant, alice, group, 'bob');
      await published(store.db, tenant);
    });
    const b = await connect(racy, await node.token(tenant, 'bob'));
    b.send({ type: 'subscribe', conversation: group, since_seq: 0 });
    expect(await b.next('error', (f) => f.ref === group)).toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(b.of('subscribed')).toEqual([]);
    // The `left` published while the subscription was buffering is dropped with it.
    expect(b.seqs(group)).toEqual([]);
    expect(racy.gateway.core.hub.listenerCount(`t:${tenant}:c:${group}`)).toBe(0);
    // Nothing of the room follows: a later message goes to the members only.
    const c = await connect(racy, await node.token(tenant, 'carol'));
    await subscribe(c, group);
    const after = await post(group, 'after');
    await until(() => c.seqs(group).includes(after), 'carol gets the message');
    b.send({ type: 'ping' });
    await b.next('pong');
    expect(b.seqs(group)).toEqual([]);
    b.close();
    c.close();
  });

  it('a failed presence snapshot after the replay leaves the subscription live', async () => {
    // Found by the simulation (seed 15): the snapshot's store read failed after `subscribed` and
    // the replay; the gateway dropped the subscription while the client held it as live.
    const { tenant, deps, group, post } = await setup();
    const db = deps.db;
    let failed = false;
    const failing: Sql & typeof db = {
      ...db,
      async query(text: string, params?: unknown[]) {
        if (!failed && text.startsWith('SELECT user_id FROM members')) {
          failed = true;
          throw new Error('connection lost');
        }
        return db.query(text, params) as never;
      },
    };
    const gw = await node.serve({ deps: { ...deps, db: failing } });
    const b = await connect(gw, await node.token(tenant, 'bob'));
    await subscribe(b, group, 0);
    await until(() => failed, 'the snapshot read failed');
    const live = await post(group, 'live');
    await until(() => b.seqs(group).includes(live), 'the live message');
    expect(b.seqs(group)).toEqual(range(1, live));
    b.close();
    await gw.close();
  });

  it('a left of a user who was re-added before the subscribe is history: the replay keeps going', async () => {
    const { tenant, deps, group, post, head } = await setup();
    await removeMember(deps, tenant, alice, group, 'bob');
    await addMembers(deps, tenant, alice, group, ['bob']);
    await post(group, 'welcome back');
    await published(store.db, tenant);
    const b = await connect(node, await node.token(tenant, 'bob'));
    const sub = await subscribe(b, group, 0);
    expect(sub.head_seq).toBe(await head(group));
    await until(() => b.seqs(group).length === sub.head_seq, 'the whole replay');
    expect(b.seqs(group)).toEqual(range(1, sub.head_seq));
    const live = await post(group, 'live');
    await until(() => b.seqs(group).includes(live), 'live after the replay');
    expect(b.of('unsubscribed')).toEqual([]);
    b.close();
  });

  it('a member removed while the bus was away is unsubscribed by the resync and gets nothing after', async () => {
    const { tenant, deps, group, post } = await setup();
    const flaky = flakyBus(node.herald.bus);
    const gw = await node.serve({ bus: flaky.bus });
    const b = await connect(gw, await node.token(tenant, 'bob'));
    await subscribe(b, group, 0);
    const before = await post(group, 'before');
    await until(() => b.seqs(group).includes(before), 'the live message');
    flaky.down();
    await removeMember(deps, tenant, alice, group, 'bob');
    const after = await post(group, 'after the removal');
    await published(store.db, tenant);
    flaky.up();
    expect(await b.next('unsubscribed')).toMatchObject({ conversation: group, code: 'NOT_A_MEMBER' });
    const left = b.of('event', (f) => f.conversation === group).at(-1);
    expect(left?.event.message.data).toMatchObject({ event: 'left', user_ids: ['bob'] });
    expect(b.seqs(group)).toEqual(range(1, after - 1));
    expect(gw.gateway.core.hub.listenerCount(`t:${tenant}:c:${group}`)).toBe(0);
    b.send({ type: 'ping' });
    await b.next('pong');
    expect(b.seqs(group)).not.toContain(after);
    b.close();
  });

  it('every live subscription buffers from the reconnect: one slow to resync does not let another skip the loss', async () => {
    const { tenant, deps, group, other, post, head } = await setup();
    const flaky = flakyBus(node.herald.bus);
    const hooked = hookedDb();
    const gw = await node.serve({ bus: flaky.bus, deps: { ...deps, db: hooked.db } });
    const b = await connect(gw, await node.token(tenant, 'bob'));
    await subscribe(b, group, 0);
    await subscribe(b, other, 0);
    flaky.down();
    await post(group, 'lost g');
    await post(other, 'lost o');
    await published(store.db, tenant);
    // Before any store read of the resync returns, the other conversation gets a live
    // message (a later seq than the one lost): it must not move that subscription past the loss.
    let live: Promise<void> | null = null;
    let hookRan = false;
    hooked.beforeReads(
      () =>
        (live ??= (async () => {
          await post(other, 'live o');
          await published(store.db, tenant);
          hookRan = true;
        })()),
    );
    flaky.up();
    await until(() => hookRan, 'the live message during the resync');
    hooked.beforeReads(null);
    const heads = { [group]: await head(group), [other]: await head(other) };
    for (const conv of [group, other]) {
      await until(() => b.seqs(conv).at(-1) === heads[conv], 'the head after the resync');
      expect(b.seqs(conv)).toEqual(range(1, heads[conv]));
    }
    // And live again afterwards.
    const next = await post(group, 'next');
    await until(() => b.seqs(group).includes(next), 'live after the resync');
    expect(b.seqs(group)).toEqual(range(1, next));
    b.close();
  });

  it('resync reads the store once per conversation on a node, however many sockets share it', async () => {
    const { tenant, deps, group, post, head } = await setup();
    const flaky = flakyBus(node.herald.bus);
    const hooked = hookedDb();
    const gw = await node.serve({ bus: flaky.bus, deps: { ...deps, db: hooked.db } });
    const clients = [];
    for (const user of ['alice', 'bob', 'bob', 'carol']) {
      const c = await connect(gw, await node.token(tenant, user));
      await subscribe(c, group, 0);
      clients.push(c);
    }
    flaky.down();
    for (let i = 0; i < 3; i++) await post(group, `lost ${i}`);
    await published(store.db, tenant);
    const readsBefore = hooked.reads.length;
    flaky.up();
    const h = await head(group);
    for (const c of clients) {
      await until(() => c.seqs(group).at(-1) === h, 'every socket caught up');
      expect(c.seqs(group)).toEqual(range(1, h));
    }
    expect(hooked.reads.slice(readsBefore)).toEqual([group]);
    for (const c of clients) c.close();
  });
});

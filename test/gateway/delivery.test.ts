// Live delivery over WebSocket: sends over the socket (direct, group,
// channel), gapless seqs, receipts, viewing → arrives read, resume with
// since_seq (including the replay/live race), membership loss.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation, getDirect, removeMember } from '../../src/domain/conversations.ts';
import type { Sql } from '../../src/domain/ports.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { type Client, connect, type Node, published, startNode, subscribe, until } from './harness.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(backends())('gateway delivery (%s)', (backend: Backend) => {
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

  async function setup(users = ['alice', 'bob', 'carol']) {
    const tenant = await seedTenant(store.db, users);
    const deps = node.herald.deps;
    const alice = { type: 'user', user_id: 'alice' } as const;
    const direct = (await getDirect(deps, tenant, 'alice', 'bob')).id;
    const group = (
      await createConversation(deps, tenant, alice, { kind: 'group', title: 'g', members: ['bob'] })
    ).id;
    const channel = (
      await createConversation(deps, tenant, alice, { kind: 'channel', title: 'c', members: ['bob'] })
    ).id;
    await published(store.db, tenant);
    return { tenant, deps, direct, group, channel };
  }

  async function sendOver(c: Client, conversation: string, client_id: string, body = `m ${client_id}`) {
    c.send({ type: 'send', conversation, client_id, body });
    return c.next('ack', (f) => f.client_id === client_id);
  }

  it('two users exchange direct, group and channel messages live with gapless seqs', async () => {
    const { tenant, direct, group, channel } = await setup();
    const a = await connect(node, await node.token(tenant, 'alice'));
    const b = await connect(node, await node.token(tenant, 'bob'), { via: 'query' });
    expect(a.of('welcome')[0]).toMatchObject({ user_id: 'alice', tenant_id: tenant, protocol: 1 });
    const heads: Record<string, number> = {};
    for (const conv of [direct, group, channel]) {
      const sa = await subscribe(a, conv);
      await subscribe(b, conv);
      expect(sa).toMatchObject({ replayed: 0, complete: true });
      heads[conv] = sa.head_seq;
    }
    for (const conv of [direct, group, channel]) {
      for (let i = 0; i < 4; i++) {
        const ack = await sendOver(i % 2 ? b : a, conv, `${conv}-${i}`);
        expect(ack).toMatchObject({ conversation: conv, seq: heads[conv] + i + 1 });
      }
    }
    for (const conv of [direct, group, channel]) {
      const want = range(heads[conv] + 1, heads[conv] + 4);
      await until(() => a.seqs(conv).length >= 4 && b.seqs(conv).length >= 4, 'all events');
      expect(a.seqs(conv)).toEqual(want);
      expect(b.seqs(conv)).toEqual(want);
      const bodies = b.of('event', (f) => f.conversation === conv).map((f) => f.event.message.client_id);
      expect(bodies).toEqual(range(0, 3).map((i) => `${conv}-${i}`));
    }
    // The personal room carries inbox changes.
    await b.next('inbox', (f) => f.entry.conversation_id === group);
    // A repeated client_id is acknowledged with the original message.
    const again = await sendOver(a, direct, `${direct}-0-dup`);
    a.send({ type: 'send', conversation: direct, client_id: `${direct}-0-dup`, body: `m ${direct}-0-dup` });
    await until(() => a.of('ack', (f) => f.client_id === `${direct}-0-dup`).length === 2, 'second ack');
    expect(a.of('ack', (f) => f.client_id === `${direct}-0-dup`)[1].seq).toBe(again.seq);
    a.close();
    b.close();
  });

  it('read fans a receipt out; a viewer gets messages written already read', async () => {
    const { tenant, group } = await setup();
    const a = await connect(node, await node.token(tenant, 'alice'));
    const b = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(a, group);
    await subscribe(b, group);
    const first = await sendOver(a, group, 'r1');
    b.send({ type: 'read', conversation: group, seq: first.seq });
    const receipt = await a.next('receipt', (f) => f.user_id === 'bob');
    expect(receipt).toMatchObject({ conversation: group, user_id: 'bob', seq: first.seq });

    b.send({ type: 'view', conversation: group });
    b.send({ type: 'ping' });
    await b.next('pong');
    const second = await sendOver(a, group, 'r2');
    const inbox = await b.next(
      'inbox',
      (f) => f.entry.conversation_id === group && f.entry.last_seq === second.seq,
    );
    expect(inbox.entry).toMatchObject({ last_read_seq: second.seq, unread_count: 0 });
    b.send({ type: 'view', conversation: null });
    b.send({ type: 'ping' });
    await until(() => b.of('pong').length >= 2, 'pong');
    const third = await sendOver(a, group, 'r3');
    const later = await b.next(
      'inbox',
      (f) => f.entry.conversation_id === group && f.entry.last_seq === third.seq,
    );
    expect(later.entry).toMatchObject({ last_read_seq: second.seq, unread_count: 1 });
    a.close();
    b.close();
  });

  it('a client that was away resumes with since_seq and ends with every event exactly once', async () => {
    const { tenant, deps, group } = await setup();
    const post = (i: number) =>
      execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: group,
        input: { body: `p${i}` },
      });
    let b = await connect(node, await node.token(tenant, 'bob'));
    const s0 = await subscribe(b, group, 0);
    expect(s0).toMatchObject({ replayed: s0.head_seq, complete: true });
    for (let i = 0; i < 3; i++) await post(i);
    await until(() => b.seqs(group).length === s0.head_seq + 3, 'live events');
    const seen = b.seqs(group);
    b.close();
    await b.waitClosed();
    // Messages continue while bob is away.
    for (let i = 3; i < 8; i++) await post(i);
    b = await connect(node, await node.token(tenant, 'bob'));
    const last = seen.at(-1) ?? 0;
    const s1 = await subscribe(b, group, last);
    expect(s1).toMatchObject({ replayed: 5, complete: true, head_seq: last + 5 });
    for (let i = 8; i < 11; i++) await post(i);
    await until(() => b.seqs(group).length === 8, 'replay then live');
    const all = [...seen, ...b.seqs(group)];
    expect(all).toEqual(range(1, s1.head_seq + 3));
    b.close();
  });

  it('replay/live race: events committed while the replay runs arrive exactly once, in order', async () => {
    const { tenant, deps, group } = await setup();
    const post = (i: number) =>
      execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: group,
        input: { body: `x${i}` },
      });
    for (let i = 0; i < 5; i++) await post(i);
    await published(store.db, tenant);

    // A gateway whose replay query is bracketed by commits: one committed and
    // published before the replay reads (seen twice: live-buffered and
    // replayed), one committed after the replay read (live only).
    const db = node.herald.deps.db;
    let armed = true;
    const hooked: Sql & typeof db = {
      ...db,
      async query(text: string, params?: unknown[]) {
        const race = armed && text.includes('LEFT JOIN LATERAL');
        if (race) {
          armed = false;
          await post(100);
          await published(store.db, tenant);
        }
        const res = await db.query(text, params);
        if (race) {
          await post(101);
          await published(store.db, tenant);
        }
        return res as never;
      },
    };
    const racy = await node.serve({ deps: { ...node.herald.deps, db: hooked } });
    const b = await connect(racy, await node.token(tenant, 'bob'));
    const sub = await subscribe(b, group, 2);
    const head = sub.head_seq + 1; // +1: the commit after the replay read
    await until(() => b.seqs(group).at(-1) === head, 'the racing events');
    expect(b.seqs(group)).toEqual(range(3, head));

    // And a free-running race: sends stream while fresh clients subscribe.
    let stop = false;
    let sent = 0;
    const writer = (async () => {
      while (!stop) {
        await post(200 + sent);
        sent++;
        // PGlite resolves in microtasks only: yield so sockets and timers run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    const clients: Client[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await connect(node, await node.token(tenant, 'bob'));
      await subscribe(c, group, 0);
      clients.push(c);
      await until(() => sent >= (i + 1) * 3, 'more sends');
    }
    stop = true;
    await writer;
    await published(store.db, tenant);
    const { rows } = await store.db.query<{ last_seq: number }>(
      'SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2',
      [tenant, group],
    );
    const final = rows[0].last_seq;
    for (const c of clients) {
      await until(() => c.seqs(group).at(-1) === final, 'catch-up to the head');
      expect(c.seqs(group)).toEqual(range(1, final));
      c.close();
    }
    b.close();
  });

  it('replay is bounded: complete:false tells the client to page over HTTP', async () => {
    const { tenant, deps, group } = await setup();
    for (let i = 0; i < 6; i++) {
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: group,
        input: { body: `b${i}` },
      });
    }
    await published(store.db, tenant);
    const small = await node.serve({ deps: { ...deps, limits: { ...deps.limits, replayLimit: 3 } } });
    const b = await connect(small, await node.token(tenant, 'bob'));
    const sub = await subscribe(b, group, 0);
    expect(sub).toMatchObject({ replayed: 3, complete: false });
    await until(() => b.seqs(group).length === 3, 'bounded replay');
    expect(b.seqs(group)).toEqual([1, 2, 3]);
    // Live continues past the hole; the client sees seq > last + 1 and pages the gap over HTTP.
    const next = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: group,
      input: { body: 'live' },
    });
    await until(() => b.seqs(group).length === 4, 'the live event');
    expect(b.seqs(group)).toEqual([1, 2, 3, next.message.seq]);
    b.close();
  });

  it('losing membership ends the subscription with unsubscribed NOT_A_MEMBER', async () => {
    const { tenant, deps, group } = await setup();
    const b = await connect(node, await node.token(tenant, 'bob'));
    const a = await connect(node, await node.token(tenant, 'alice'));
    await subscribe(b, group);
    await subscribe(a, group);
    await removeMember(deps, tenant, { type: 'user', user_id: 'alice' }, group, 'bob');
    const unsub = await b.next('unsubscribed');
    expect(unsub).toMatchObject({ conversation: group, code: 'NOT_A_MEMBER' });
    const left = b.of('event', (f) => f.conversation === group).at(-1);
    expect(left?.event.message.data).toMatchObject({ event: 'left', user_ids: ['bob'] });
    const ack = await sendOver(a, group, 'after-left');
    await until(() => a.seqs(group).includes(ack.seq), 'alice sees her message');
    expect(b.seqs(group)).not.toContain(ack.seq);
    // And a fresh subscribe is refused.
    b.send({ type: 'subscribe', conversation: group, since_seq: 0 });
    expect(await b.next('error', (f) => f.ref === group)).toMatchObject({ code: 'NOT_A_MEMBER' });
    a.close();
    b.close();
  });

  it('tenant-wide announcements are readable by every user of the tenant', async () => {
    const { tenant, deps } = await setup();
    const ann = (
      await createConversation(
        deps,
        tenant,
        { type: 'system' },
        { kind: 'announcement', title: 'news', members: [], audience: 'tenant' },
      )
    ).id;
    const c = await connect(node, await node.token(tenant, 'carol'));
    await subscribe(c, ann, 0);
    const m = await execute(deps, tenant, {
      kind: 'Announcement',
      actor: { type: 'system' },
      conversation: ann,
      input: { body: 'hello all' },
    });
    await until(() => c.seqs(ann).includes(m.message.seq), 'the announcement');
    c.send({ type: 'send', conversation: ann, client_id: 'nope', body: 'x' });
    expect(await c.next('error', (f) => f.ref === 'nope')).toMatchObject({ code: 'NOT_ADMIN' });
    c.close();
  });

  it('one bus subscription per topic, dropped when the last local socket leaves', async () => {
    const { tenant, group } = await setup();
    const hub = node.gateway.core.hub;
    const topic = `t:${tenant}:c:${group}`;
    const a = await connect(node, await node.token(tenant, 'alice'));
    const b = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(a, group);
    await subscribe(b, group);
    expect(hub.listenerCount(topic)).toBe(2);
    a.send({ type: 'unsubscribe', conversation: group });
    await a.next('unsubscribed', (f) => f.code === 'UNSUBSCRIBED');
    expect(hub.listenerCount(topic)).toBe(1);
    b.close();
    await until(() => hub.listenerCount(topic) === 0, 'the topic to be dropped');
    a.close();
  });

  it('a subscribe reads the store once: the access check and the replay are one statement', async () => {
    const { tenant, deps, group } = await setup();
    for (let i = 0; i < 3; i++)
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: group,
        input: { body: `m${i}` },
      });
    await published(store.db, tenant);
    const b = await connect(node, await node.token(tenant, 'bob'));
    const statements: string[] = [];
    store.db.onQuery((text) => statements.push(text));
    try {
      const sub = await subscribe(b, group, 1);
      expect(sub).toMatchObject({ head_seq: 4, replayed: 3, complete: true });
      await until(() => b.seqs(group).length === 3, 'the replay');
    } finally {
      store.db.onQuery(null);
    }
    expect(b.seqs(group)).toEqual([2, 3, 4]);
    // (The relay polls on the same store; the presence snapshot reads the member list.)
    expect(statements.filter((t) => /FROM (conversations|events)\b/.test(t))).toHaveLength(1);
    b.close();
  });
});

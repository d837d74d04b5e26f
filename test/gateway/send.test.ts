// Writes over the socket: `send` frames of one connection to one conversation
// commit in frame order; the message-input rules are the domain's, the same as
// HTTP's; the per-user send limit is shared with HTTP (more sockets, no more sends).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConversation } from '../../src/domain/conversations.ts';
import type { QueryOptions, Row } from '../../src/domain/ports.ts';
import { seedTenant, snapshot } from '../support/fixtures.ts';
import { startTestHerald } from '../support/herald.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import {
  type Client,
  connect,
  type Node,
  published,
  type Served,
  startNode,
  subscribe,
  until,
} from './harness.ts';

describe.each(backends())('gateway send (%s)', (backend: Backend) => {
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

  async function setup() {
    const tenant = await seedTenant(store.db, ['alice', 'bob']);
    const group = (
      await createConversation(
        node.herald.deps,
        tenant,
        { type: 'user', user_id: 'alice' },
        { kind: 'group', title: 'g', members: ['bob'] },
      )
    ).id;
    await published(store.db, tenant);
    return { tenant, group };
  }

  it('two sends to one conversation commit in frame order, even when the first is slower to start', async () => {
    const { tenant, group } = await setup();
    const db = node.herald.deps.db;
    let c: Client | null = null;
    let held = false;
    // The first send's statement starts only once the frames after it were dispatched
    // (the ping behind them was answered): a second send that did not wait would win the lock.
    const slowFirst: typeof db = {
      ...db,
      async query<T extends Row>(text: string, params?: unknown[], opts?: QueryOptions) {
        if (!held && /herald_send\(/.test(text)) {
          held = true;
          await until(() => c?.of('pong').length, 'the frames behind the first send');
        }
        return db.query<T>(text, params, opts);
      },
    };
    const gw = await node.serve({ deps: { ...node.herald.deps, db: slowFirst } });
    c = await connect(gw, await node.token(tenant, 'alice'));
    await subscribe(c, group);
    c.send({ type: 'send', conversation: group, client_id: 'first', body: '1' });
    c.send({ type: 'send', conversation: group, client_id: 'second', body: '2' });
    c.send({ type: 'ping' });
    const first = await c.next('ack', (f) => f.client_id === 'first');
    const second = await c.next('ack', (f) => f.client_id === 'second');
    expect(second.seq).toBe(first.seq + 1);
    await until(() => c?.seqs(group).includes(second.seq), 'the events');
    const ids = c.of('event', (f) => f.conversation === group).map((f) => f.event.message.client_id);
    expect(ids).toEqual(['first', 'second']);
    c.close();
  });

  it('a slow send does not hold up sends to other conversations or other frames', async () => {
    const { tenant, group } = await setup();
    const other = (
      await createConversation(
        node.herald.deps,
        tenant,
        { type: 'user', user_id: 'alice' },
        { kind: 'group', title: 'o', members: ['bob'] },
      )
    ).id;
    await published(store.db, tenant);
    const db = node.herald.deps.db;
    let release = false;
    let held = false;
    const holdFirst: typeof db = {
      ...db,
      async query<T extends Row>(text: string, params?: unknown[], opts?: QueryOptions) {
        if (!held && /herald_send\(/.test(text)) {
          held = true;
          await until(() => release, 'the test to release the first send');
        }
        return db.query<T>(text, params, opts);
      },
    };
    const gw = await node.serve({ deps: { ...node.herald.deps, db: holdFirst } });
    const c = await connect(gw, await node.token(tenant, 'alice'));
    // Subscribed: both kinds are known, so the first frame is the first to run `herald_send`.
    await subscribe(c, group);
    await subscribe(c, other);
    c.send({ type: 'send', conversation: group, client_id: 'held', body: 'h' });
    c.send({ type: 'send', conversation: other, client_id: 'free', body: 'f' });
    c.send({ type: 'ping' });
    await c.next('ack', (f) => f.client_id === 'free');
    await c.next('pong');
    expect(c.of('ack', (f) => f.client_id === 'held')).toEqual([]);
    release = true;
    await c.next('ack', (f) => f.client_id === 'held');
    c.close();
  });

  it('a send to a notices conversation is INVALID_KIND, as over HTTP (one routing table)', async () => {
    const { tenant } = await setup();
    await store.db.query(
      "INSERT INTO conversations (tenant_id, id, kind, member_count) VALUES ($1, 'notices-bob', 'notices', 1)",
      [tenant],
    );
    await store.db.query(
      "INSERT INTO members (tenant_id, conversation_id, user_id) VALUES ($1, 'notices-bob', 'bob')",
      [tenant],
    );
    const c = await connect(node, await node.token(tenant, 'bob'));
    const before = await snapshot(store.db, tenant);
    c.send({ type: 'send', conversation: 'notices-bob', client_id: 'n1', body: 'hi' });
    expect(await c.next('error', (f) => f.ref === 'n1')).toMatchObject({ code: 'INVALID_KIND' });
    expect(await snapshot(store.db, tenant)).toEqual(before);
    c.close();
  });

  it('attachments, client_id and mentions follow the HTTP rules; a refused send writes nothing', async () => {
    const { tenant, group } = await setup();
    const c = await connect(node, await node.token(tenant, 'alice'));
    const att = { name: 'a.png', mime_type: 'image/png', size: 1, url: 'https://x/a.png' };
    const cases: [string, object][] = [
      ['js-url', { attachments: [{ ...att, url: 'javascript:alert(1)' }] }],
      ['data-url', { attachments: [{ ...att, url: 'data:text/html,<b>x</b>' }] }],
      ['long-url', { attachments: [{ ...att, url: `https://x/${'a'.repeat(2048)}` }] }],
      ['long-name', { attachments: [{ ...att, name: 'n'.repeat(256) }] }],
      ['empty-name', { attachments: [{ ...att, name: '' }] }],
      ['long-mime', { attachments: [{ ...att, mime_type: 'm'.repeat(256) }] }],
      ['neg-size', { attachments: [{ ...att, size: -1 }] }],
      ['frac-size', { attachments: [{ ...att, size: 1.5 }] }],
      ['spaced-mention', { mentions: ['bob smith'] }],
      ['long-mention', { mentions: ['b'.repeat(129)] }],
      ['long-reply', { reply_to: 'r'.repeat(129) }],
    ];
    const before = await snapshot(store.db, tenant);
    for (const [client_id, extra] of cases) {
      c.send({ type: 'send', conversation: group, client_id, body: 'x', ...extra });
      expect(await c.next('error', (f) => f.ref === client_id)).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    const longId = 'k'.repeat(129);
    c.send({ type: 'send', conversation: group, client_id: longId, body: 'x' });
    expect(await c.next('error', (f) => f.ref === longId)).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await snapshot(store.db, tenant)).toEqual(before);
    // The limits themselves are allowed.
    const ok = 'k'.repeat(128);
    c.send({
      type: 'send',
      conversation: group,
      client_id: ok,
      body: 'x',
      mentions: ['bob'],
      attachments: [{ ...att, name: 'n'.repeat(255), size: 0, url: `https://x/${'a'.repeat(2038)}` }],
    });
    expect(await c.next('ack', (f) => f.client_id === ok)).toMatchObject({ conversation: group });
    c.close();
  });

  it('a client_id reused for a different send is an error frame IDEMPOTENCY_KEY_REUSED with its ref; nothing written', async () => {
    const { tenant, group } = await setup();
    const c = await connect(node, await node.token(tenant, 'alice'));
    c.send({ type: 'send', conversation: group, client_id: 'once', body: 'first' });
    const ack = await c.next('ack', (f) => f.client_id === 'once');
    const before = await snapshot(store.db, tenant);
    c.send({ type: 'send', conversation: group, client_id: 'once', body: 'second' });
    expect(await c.next('error', (f) => f.ref === 'once')).toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
      ref: 'once',
    });
    expect(await snapshot(store.db, tenant)).toEqual(before);
    // The same send again is a replay: acknowledged with the original seq and message.
    c.send({ type: 'send', conversation: group, client_id: 'once', body: 'first' });
    const again = await c.next('ack', (f) => f.client_id === 'once' && f !== ack);
    expect(again).toMatchObject({ seq: ack.seq, message_id: ack.message_id });
    c.close();
  });

  it('the per-user send limit is shared by HTTP and every socket: RATE_LIMITED, nothing written', async () => {
    const t = await startTestHerald({
      backend,
      listen: true,
      env: { HERALD_SEND_RATE_MAX: '3', HERALD_SEND_RATE_WINDOW_SEC: '3600' },
    });
    try {
      const { tenant_id } = await t.createTenant();
      const alice = await t.mintUser(tenant_id, 'alice');
      const bob = await t.mintUser(tenant_id, 'bob');
      const created = await t.call<{ conversation: { id: string } }>({
        method: 'POST',
        url: '/v1/conversations',
        headers: t.bearer(alice),
        payload: { kind: 'group', title: 'g', members: ['bob'] },
      });
      const id = created.body.conversation.id;
      const post = (who: typeof alice, body: string) =>
        t.call({
          method: 'POST',
          url: `/v1/conversations/${id}/messages`,
          headers: t.bearer(who),
          payload: { body },
        });
      const served = { url: `${t.url?.replace(/^http/, 'ws')}/v1/ws` } as Served;
      const s1 = await connect(served, alice.access_token);
      const s2 = await connect(served, alice.access_token);
      expect((await post(alice, 'http')).status).toBe(201);
      s1.send({ type: 'send', conversation: id, client_id: 'ws-1', body: 'one' });
      await s1.next('ack', (f) => f.client_id === 'ws-1');
      s2.send({ type: 'send', conversation: id, client_id: 'ws-2', body: 'two' });
      await s2.next('ack', (f) => f.client_id === 'ws-2');
      // The budget (3) is spent across HTTP and two sockets.
      const before = await snapshot(t.db, tenant_id);
      s2.send({ type: 'send', conversation: id, client_id: 'ws-3', body: 'three' });
      expect(await s2.next('error', (f) => f.ref === 'ws-3')).toMatchObject({ code: 'RATE_LIMITED' });
      s1.send({ type: 'send', conversation: id, client_id: 'ws-4', body: 'four' });
      expect(await s1.next('error', (f) => f.ref === 'ws-4')).toMatchObject({ code: 'RATE_LIMITED' });
      expect((await post(alice, 'http again')).status).toBe(429);
      expect(await snapshot(t.db, tenant_id)).toEqual(before);
      expect(s1.closed).toBeNull();
      // Per user: bob still sends.
      const b = await connect(served, bob.access_token);
      b.send({ type: 'send', conversation: id, client_id: 'bob-1', body: 'b' });
      await b.next('ack', (f) => f.client_id === 'bob-1');
      for (const c of [s1, s2, b]) c.close();
    } finally {
      await t.close();
    }
  });
});

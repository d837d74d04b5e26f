// Delivery receipts over real sockets, on both stores: a `delivered` ack moves the
// recipient's marker forward only (never past the head, never below the read marker), and in
// small conversations every subscriber sees a `receipt` with delivered_seq; large ones get
// counts only. Bad acks get typed errors and write nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readableConversation } from '../../src/domain/access.ts';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import { receiptsOf } from '../../src/domain/receipts.ts';
import {
  type Client,
  connect,
  type Node,
  published,
  startNode,
  subscribe,
  until,
} from '../gateway/harness.ts';
import { seedTenant } from '../support/fixtures.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';

const DETAIL_MAX = 3;

describe.each(backends())('delivery receipts (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  const sockets: Client[] = [];
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(store.db, {}, { receiptDetailMax: DETAIL_MAX });
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    await node?.close();
    await store?.close();
  });

  const alice = { type: 'user', user_id: 'alice' } as const;
  async function group(members: string[]) {
    const tenant = await seedTenant(store.db, ['alice', ...members]);
    const deps = node.herald.deps;
    const { id } = await createConversation(deps, tenant, alice, { kind: 'group', title: 'g', members });
    for (let i = 1; i <= 3; i++)
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body: `m${i}` },
      });
    await published(store.db, tenant);
    const { rows } = await store.db.query<{ last_seq: string }>(
      'SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2',
      [tenant, id],
    );
    return { tenant, id, head: Number(rows[0].last_seq) };
  }
  async function socket(tenant: string, user: string) {
    const c = await connect(node, await node.token(tenant, user));
    sockets.push(c);
    return c;
  }
  async function marker(tenant: string, user: string, conv: string) {
    const { rows } = await store.db.query<{ d: string; r: string }>(
      `SELECT last_delivered_seq AS d, last_read_seq AS r FROM inbox_entries
        WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3`,
      [tenant, user, conv],
    );
    return rows[0] ? { delivered: Number(rows[0].d), read: Number(rows[0].r) } : null;
  }
  const outboxRows = async (tenant: string) =>
    Number(
      (await store.db.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE tenant_id = $1', [tenant]))
        .rows[0].n,
    );

  it('an ack moves the marker and the sender sees receipt {seq, delivered_seq}; repeats write nothing', async () => {
    const g = await group(['bob']);
    const a = await socket(g.tenant, 'alice');
    await subscribe(a, g.id);
    const b = await socket(g.tenant, 'bob');
    b.send({ type: 'delivered', conversation: g.id, seq: g.head - 1 });
    // Seq 1 (the group's creation, a system event about bob) was marked read at compose.
    const r1 = await a.next('receipt', (f) => f.user_id === 'bob' && f.delivered_seq === g.head - 1);
    expect(r1).toEqual({
      type: 'receipt',
      conversation: g.id,
      user_id: 'bob',
      seq: 1,
      delivered_seq: g.head - 1,
    });
    expect(await marker(g.tenant, 'bob', g.id)).toEqual({ delivered: g.head - 1, read: 1 });

    // A late or repeated ack (≤ the marker) changes nothing: no row, no frame.
    await published(store.db, g.tenant);
    const before = await outboxRows(g.tenant);
    b.send({ type: 'delivered', conversation: g.id, seq: g.head - 2 });
    b.send({ type: 'delivered', conversation: g.id, seq: g.head - 1 });
    b.send({ type: 'ping' });
    await b.next('pong');
    expect(await outboxRows(g.tenant)).toBe(before);
    expect(await marker(g.tenant, 'bob', g.id)).toEqual({ delivered: g.head - 1, read: 1 });

    // Read implies delivered: reading the head moves delivered with it, and an ack below it is moot.
    await markRead(node.herald.deps, g.tenant, 'bob', g.id, g.head);
    const r2 = await a.next('receipt', (f) => f.user_id === 'bob' && f.seq === g.head);
    expect(r2.delivered_seq).toBe(g.head);
    expect(await marker(g.tenant, 'bob', g.id)).toEqual({ delivered: g.head, read: g.head });
    await published(store.db, g.tenant);
    const afterRead = await outboxRows(g.tenant);
    b.send({ type: 'delivered', conversation: g.id, seq: g.head });
    b.send({ type: 'ping' });
    await until(() => b.of('pong').length === 2, 'second pong');
    expect(await outboxRows(g.tenant)).toBe(afterRead);
    expect(b.of('error')).toEqual([]);
  });

  it('an ack leaves the inbox entry as clients sync it: same version, not re-sent by GET /v1/inbox?since=', async () => {
    const { tenant, id, head } = await group(['bob']);
    const entry = () =>
      store.db.query<{ version: string; xid: string; last_delivered_seq: string }>(
        `SELECT version, xid::text AS xid, last_delivered_seq FROM inbox_entries
          WHERE tenant_id = $1 AND user_id = 'bob' AND conversation_id = $2`,
        [tenant, id],
      );
    const before = (await entry()).rows[0];
    const bob = await socket(tenant, 'bob');
    bob.send({ type: 'delivered', conversation: id, seq: head });
    await until(async () => Number((await entry()).rows[0].last_delivered_seq) === head, 'the marker');
    const after = (await entry()).rows[0];
    expect({ version: after.version, xid: after.xid }).toEqual({ version: before.version, xid: before.xid });
    // A change clients do see still bumps it.
    await markRead(node.herald.deps, tenant, 'bob', id, head);
    expect(Number((await entry()).rows[0].version)).toBeGreaterThan(Number(before.version));
  });

  it('bad acks get typed errors with the conversation as ref, and write nothing', async () => {
    const g = await group(['bob']);
    const other = await group(['carol']);
    await published(store.db, g.tenant);
    const before = await outboxRows(g.tenant);
    const b = await socket(g.tenant, 'bob');
    b.send({ type: 'delivered', conversation: g.id, seq: g.head + 1 });
    expect(await b.next('error', (f) => f.code === 'INVALID_SEQ')).toMatchObject({ ref: g.id });
    b.send({ type: 'delivered', conversation: g.id, seq: -1 });
    expect(await b.next('error', (f) => f.code === 'VALIDATION_FAILED')).toMatchObject({ ref: g.id });
    b.send({ type: 'delivered', conversation: g.id, seq: 1.5 });
    await until(
      () => b.of('error', (f) => f.code === 'VALIDATION_FAILED').length === 2,
      'second validation error',
    );
    b.send({ type: 'delivered', conversation: g.id });
    await until(
      () => b.of('error', (f) => f.code === 'VALIDATION_FAILED').length === 3,
      'third validation error',
    );
    b.send({ type: 'delivered', conversation: 'no-such-conversation', seq: 1 });
    await b.next('error', (f) => f.code === 'CONVERSATION_NOT_FOUND');
    // Another tenant's conversation id is just unknown here.
    b.send({ type: 'delivered', conversation: other.id, seq: 1 });
    await until(() => b.of('error', (f) => f.code === 'CONVERSATION_NOT_FOUND').length === 2, 'not found');
    // A user of the tenant who is not a member.
    const { tenant } = g;
    await store.db.query("INSERT INTO users (tenant_id, id) VALUES ($1, 'erin')", [tenant]);
    const e = await socket(tenant, 'erin');
    e.send({ type: 'delivered', conversation: g.id, seq: 1 });
    await e.next('error', (f) => f.code === 'NOT_A_MEMBER' && f.ref === g.id);
    expect(await marker(tenant, 'erin', g.id)).toBeNull();
    expect(await marker(tenant, 'bob', g.id)).toEqual({ delivered: 0, read: 1 });
    expect(await outboxRows(g.tenant)).toBe(before);
  });

  it('large conversations: the marker moves but no receipt frame; GET …/receipts gives counts only', async () => {
    const big = await group(['bob', 'carol', 'dave']); // 4 members > DETAIL_MAX
    const a = await socket(big.tenant, 'alice');
    await subscribe(a, big.id);
    await published(store.db, big.tenant);
    const before = await outboxRows(big.tenant);
    const b = await socket(big.tenant, 'bob');
    b.send({ type: 'delivered', conversation: big.id, seq: big.head });
    await until(
      async () => (await marker(big.tenant, 'bob', big.id))?.delivered === big.head,
      'bob delivered',
    );
    expect(await outboxRows(big.tenant)).toBe(before);
    // The node's own API (same store, same limits).
    const reads = node.herald.deps.reads(store.db);
    const readable = await readableConversation(reads.conversations, big.tenant, 'alice', big.id);
    expect(await receiptsOf(reads.delivery, big.tenant, readable, DETAIL_MAX)).toEqual({
      detailed: false,
      receipts: [],
      // alice sent everything (read, so delivered); bob acked the head.
      counts: { seq: big.head, recipients: 4, delivered: 2, read: 1 },
    });
    // A read still sends its receipt at any size (the existing read contract); the ack did not.
    await markRead(node.herald.deps, big.tenant, 'carol', big.id, big.head);
    await a.next('receipt', (f) => f.user_id === 'carol');
    expect(a.of('receipt', (f) => f.user_id === 'bob')).toEqual([]);
  });
});

describe.each(backends())('GET /v1/conversations/{id}/receipts (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend, env: { HERALD_RECEIPT_DETAIL_MAX: '3' } });
  }, 60_000);
  afterAll(async () => t?.close());

  it('lists delivered and read per recipient with counts at a seq; bad seqs are typed errors', async () => {
    const { tenant_id } = await t.createTenant();
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((u) => t.mintUser(tenant_id, u)),
    );
    const call = (method: 'GET' | 'POST', url: string, who: typeof alice, payload?: object) =>
      t.call<Record<string, unknown>>({
        method,
        url,
        headers: t.bearer(who),
        ...(payload ? { payload } : {}),
      });
    const conv = (
      await call('POST', '/v1/conversations', alice, { kind: 'group', title: 'g', members: ['bob', 'carol'] })
    ).body.conversation as { id: string };
    let head = 0;
    for (const body of ['one', 'two']) {
      const res = await call('POST', `/v1/conversations/${conv.id}/messages`, alice, { body });
      head = (res.body.message as { seq: number }).seq;
    }
    await t.herald.deps.db.query(
      'UPDATE inbox_entries SET last_delivered_seq = $3 WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $4',
      [tenant_id, 'bob', head, conv.id],
    );
    await call('POST', `/v1/conversations/${conv.id}/read`, carol, { seq: head - 1 });
    const res = await call('GET', `/v1/conversations/${conv.id}/receipts`, bob);
    expect(res).toMatchObject({ status: 200 });
    expect(res.body).toEqual({
      detailed: true,
      receipts: [
        { user_id: 'alice', seq: head, delivered_seq: head },
        { user_id: 'bob', seq: 1, delivered_seq: head },
        { user_id: 'carol', seq: head - 1, delivered_seq: head - 1 },
      ],
      counts: { seq: head, recipients: 3, delivered: 2, read: 1 },
    });
    const at = await call('GET', `/v1/conversations/${conv.id}/receipts?seq=${head - 1}`, bob);
    expect(at.body.counts).toEqual({ seq: head - 1, recipients: 3, delivered: 3, read: 2 });
    for (const [q, code] of [
      [`seq=${head + 1}`, 'INVALID_SEQ'],
      ['seq=-1', 'VALIDATION_FAILED'],
      ['seq=x', 'VALIDATION_FAILED'],
    ]) {
      const bad = await call('GET', `/v1/conversations/${conv.id}/receipts?${q}`, bob);
      expect(bad, q).toMatchObject({ status: 400, body: { error: { code } } });
    }
  });
});

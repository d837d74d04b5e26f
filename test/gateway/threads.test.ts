// Threads over the socket: a `send` frame with `thread_root` is a reply; its event (live and
// replayed) carries the reply and the root's count; participants get `thread` frames and
// nobody gets an `inbox` frame for it; a bad root is a typed error with the send's ref. A
// `thread_read` frame moves the thread's read marker as the HTTP route does, answered like `read`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE } from '../../src/protocol/index.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import {
  aliceBobGroup,
  type Client,
  connect,
  type Frame,
  type Node,
  startNode,
  subscribe,
  until,
} from './harness.ts';

describe.each(backends())('threads over the gateway (%s)', (backend: Backend) => {
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

  it('a reply sent as a frame is live and replayed with its root’s count; participants get `thread`', async () => {
    const { tenant, id } = await aliceBobGroup(node);
    const alice = await connect(node, await node.token(tenant, 'alice'));
    const bob = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(alice, id);
    await subscribe(bob, id);

    alice.send({ type: 'send', conversation: id, client_id: 'root', body: 'root' });
    const root = await alice.next('ack', (f) => f.client_id === 'root');
    await bob.next('event', (f) => f.seq === root.seq);
    bob.send({
      type: 'send',
      conversation: id,
      client_id: 'r1',
      body: 'reply',
      thread_root: root.message_id,
    });
    const reply = await bob.next('ack', (f) => f.client_id === 'r1');
    expect(reply.seq).toBe(root.seq + 1);

    for (const c of [alice, bob]) {
      const ev = await c.next('event', (f) => f.seq === reply.seq);
      expect(ev.event).toMatchObject({
        type: 'message.created',
        message: { id: reply.message_id, thread_root: root.message_id, body: 'reply' },
        thread: { root_id: root.message_id, reply_count: 1, last_reply_at: expect.any(String) },
      });
    }
    // The root's author is a participant with one unread reply; the sender has read it.
    const aliceEntry = await alice.next('thread');
    expect(aliceEntry.entry).toMatchObject({
      conversation_id: id,
      root_id: root.message_id,
      reply_count: 1,
      unread_count: 1,
      last_read_seq: 0,
    });
    expect((await bob.next('thread')).entry).toMatchObject({ unread_count: 0, last_read_seq: reply.seq });
    // `thread` and `inbox` frames share the user's topic, in outbox order: an inbox frame of the
    // reply would have come first.
    for (const c of [alice, bob]) expect(c.of('inbox', (f) => f.entry.last_seq >= reply.seq)).toEqual([]);

    // Caught up after a reconnect: the replayed event is the same.
    bob.close();
    const again = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(again, id, root.seq);
    const replayed = await again.next('event', (f) => f.seq === reply.seq);
    expect(replayed.event.thread).toMatchObject({ root_id: root.message_id, reply_count: 1 });
    expect(replayed.event.message.thread_root).toBe(root.message_id);
    alice.close();
    again.close();
  });

  it('a frame naming an unknown root is refused with INVALID_THREAD_ROOT and its ref', async () => {
    const { tenant, id } = await aliceBobGroup(node);
    const alice = await connect(node, await node.token(tenant, 'alice'));
    alice.send({ type: 'send', conversation: id, client_id: 'bad', body: 'x', thread_root: 'nope' });
    expect(await alice.next('error', (f) => f.ref === 'bad')).toMatchObject({ code: 'INVALID_THREAD_ROOT' });
    alice.send({ type: 'send', conversation: id, client_id: 'bad2', body: 'x', thread_root: 7 });
    expect(await alice.next('error', (f) => f.ref === 'bad2')).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(alice.of('ack')).toEqual([]);
    alice.close();
  });

  /** alice's root and bob's reply, sent as frames; alice has one unread reply. */
  async function rootAndReply(alice: Client, bob: Client, id: string) {
    alice.send({ type: 'send', conversation: id, client_id: 'root', body: 'root' });
    const root = await alice.next('ack', (f) => f.client_id === 'root');
    bob.send({
      type: 'send',
      conversation: id,
      client_id: 'r1',
      body: 'reply',
      thread_root: root.message_id,
    });
    const reply = await bob.next('ack', (f) => f.client_id === 'r1');
    await alice.next('thread', (f) => f.entry.unread_count === 1);
    return { root, reply };
  }

  it('a `thread_read` frame moves the thread marker like HTTP: the entry reaches every socket of the user', async () => {
    const { tenant, id } = await aliceBobGroup(node);
    const alice = await connect(node, await node.token(tenant, 'alice'));
    const phone = await connect(node, await node.token(tenant, 'alice'));
    const bob = await connect(node, await node.token(tenant, 'bob'));
    const { root, reply } = await rootAndReply(alice, bob, id);
    const { rows: before } = await store.db.query<{ last_read_seq: string }>(
      `SELECT last_read_seq FROM inbox_entries WHERE tenant_id = $1 AND user_id = 'alice' AND conversation_id = $2`,
      [tenant, id],
    );

    alice.send({ type: 'thread_read', conversation: id, root_id: root.message_id, seq: reply.seq });
    // No answer of its own (as `read`): the moved marker is a `thread` frame to the user's topic.
    const read = (f: Frame) => f.entry.last_read_seq === reply.seq;
    const mine = await alice.next('thread', read);
    expect(mine.entry).toMatchObject({
      conversation_id: id,
      root_id: root.message_id,
      reply_count: 1,
      unread_count: 0,
      last_read_seq: reply.seq,
    });
    expect((await phone.next('thread', read)).entry).toEqual(mine.entry);
    // The same entry HTTP answers with (GET …/threads?root_id), and the conversation marker stays.
    const entries = await node.herald.deps
      .reads(node.herald.deps.db)
      .threads.entries(tenant, 'alice', id, 10, root.message_id);
    expect(entries).toEqual([mine.entry]);
    const { rows: after } = await store.db.query<{ last_read_seq: string }>(
      `SELECT last_read_seq FROM inbox_entries WHERE tenant_id = $1 AND user_id = 'alice' AND conversation_id = $2`,
      [tenant, id],
    );
    expect(after).toEqual(before);
    expect(
      bob.of('thread', (f) => f.entry.last_read_seq === reply.seq && f.entry.unread_count === 0),
    ).toHaveLength(
      1, // bob's own, from his reply
    );
    expect(alice.of('error')).toEqual([]);
    for (const c of [alice, phone, bob]) c.close();
  });

  it('a bad `thread_read` is a typed error with the conversation as ref, as `read` is', async () => {
    const { tenant, id } = await aliceBobGroup(node);
    const alice = await connect(node, await node.token(tenant, 'alice'));
    const bob = await connect(node, await node.token(tenant, 'bob'));
    const { root, reply } = await rootAndReply(alice, bob, id);
    const carol = await connect(node, await node.token(tenant, 'carol'));
    const cases: [Client, Record<string, unknown>, string][] = [
      [alice, { root_id: root.message_id, seq: reply.seq + 5 }, 'INVALID_SEQ'],
      [alice, { root_id: 'nope', seq: reply.seq }, 'MESSAGE_NOT_FOUND'],
      [alice, { root_id: 7, seq: reply.seq }, 'VALIDATION_FAILED'],
      [alice, { seq: reply.seq }, 'VALIDATION_FAILED'],
      [alice, { root_id: root.message_id, seq: -1 }, 'VALIDATION_FAILED'],
      [alice, { root_id: root.message_id, seq: reply.seq, extra: true }, 'VALIDATION_FAILED'],
    ];
    /** The next error frame `c` gets after what it has. */
    const nextError = async (c: Client, frame: Record<string, unknown>) => {
      const n = c.of('error').length;
      c.send(frame);
      return until(() => c.of('error')[n], 'an error frame');
    };
    for (const [c, fields, code] of cases) {
      const err = await nextError(c, { type: 'thread_read', conversation: id, ...fields });
      expect([err.code, err.ref], JSON.stringify(fields)).toEqual([code, id]);
    }
    // Not a member: the code `read` answers with for the same conversation.
    const asRead = await nextError(carol, { type: 'read', conversation: id, seq: reply.seq });
    const asThreadRead = await nextError(carol, {
      type: 'thread_read',
      conversation: id,
      root_id: root.message_id,
      seq: reply.seq,
    });
    expect([asThreadRead.code, asThreadRead.ref]).toEqual([asRead.code, id]);
    // Nothing moved: alice still has her unread reply.
    const [entry] = await node.herald.deps
      .reads(node.herald.deps.db)
      .threads.entries(tenant, 'alice', id, 10, root.message_id);
    expect(entry).toMatchObject({ unread_count: 1, last_read_seq: 0 });
    for (const c of [alice, bob, carol]) c.close();
  });

  it('`thread_read` frames count against the socket’s frame budget like any other', async () => {
    const { tenant, id } = await aliceBobGroup(node);
    const strict = await node.serve({ frameRate: { perSec: 5, burst: 10 } });
    const alice = await connect(strict, await node.token(tenant, 'alice'));
    for (let i = 0; i < 50; i++)
      alice.send({ type: 'thread_read', conversation: id, root_id: 'nope', seq: 0 });
    expect((await alice.waitClosed()).code).toBe(CLOSE.RATE_LIMITED);
  });
});

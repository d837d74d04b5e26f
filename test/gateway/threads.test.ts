// Threads over the socket: a `send` frame with `thread_root` is a reply; its event (live and
// replayed) carries the reply and the root's count; participants get `thread` frames and
// nobody gets an `inbox` frame for it; a bad root is a typed error with the send's ref.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { aliceBobGroup, connect, type Node, startNode, subscribe } from './harness.ts';

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
});

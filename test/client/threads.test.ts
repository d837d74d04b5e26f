// SDK thread timelines against a real node: client.thread() loads the root and its replies,
// follows live replies, sends replies through the client's outbox, tracks the user's thread
// entry (unread) and marks the thread read; the main timeline keeps replies out and counts
// them on the root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeraldClient } from '../../src/client/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';
import { sdkClient } from '../support/sdk-client.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('SDK threads (%s)', (backend: Backend) => {
  let t: TestHerald;
  const clients: HeraldClient[] = [];
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true, env: { HERALD_SEND_RATE_MAX: '10000' } });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await t?.close();
  });

  const client = (tenant: string, user: string) => sdkClient(t, tenant, user, { storage: false, clients });

  it('loads, follows live replies, replies, and tracks and clears thread unread', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await client(tenant_id, 'alice');
    const bob = await client(tenant_id, 'bob');
    const { conversation } = await alice.http.direct('bob');
    const room = alice.open(conversation.id, { sinceSeq: 0 });
    const root = await alice.send(conversation.id, 'root').done;
    const early = await bob.http.postMessage(conversation.id, {
      body: 'early',
      thread_root: root.message_id,
    });

    const thread = alice.thread(conversation.id, root.message_id);
    await thread.loadOlder();
    expect(thread.root).toMatchObject({ id: root.message_id, reply_count: 1 });
    expect(thread.messages().map((m) => m.body)).toEqual(['early']);
    expect(thread.hasOlder).toBe(false);

    // A live reply from bob, and one from alice through the thread (optimistic, acked).
    let changes = 0;
    thread.on('change', () => changes++);
    await bob.http.postMessage(conversation.id, { body: 'live', thread_root: root.message_id });
    await waitFor(() => thread.messages().length === 2, 10_000, 'the live reply');
    const mine = thread.reply('mine');
    expect(mine.options).toMatchObject({ thread_root: root.message_id });
    const sent = await mine.done;
    await waitFor(() => thread.messages().length === 3, 10_000, 'the own reply');
    expect(thread.messages().map((m) => [m.body, m.thread_root])).toEqual([
      ['early', root.message_id],
      ['live', root.message_id],
      ['mine', root.message_id],
    ]);
    expect(thread.root?.reply_count).toBe(3);
    expect(changes).toBeGreaterThanOrEqual(2);

    // Alice's entry came with the replies: the two of bob's after her last read are unread
    // until her own reply, which read the thread up to itself.
    await waitFor(() => thread.entry?.last_read_seq === sent.seq, 10_000, 'the thread entry');
    expect(thread.entry).toMatchObject({ unread_count: 0, reply_count: 3 });
    const later = await bob.http.postMessage(conversation.id, {
      body: 'after',
      thread_root: root.message_id,
    });
    await waitFor(() => thread.entry?.unread_count === 1, 10_000, 'an unread reply');
    const read = await thread.markRead();
    expect(read).toMatchObject({ unread_count: 0, last_read_seq: later.message.seq });
    expect(thread.entry?.unread_count).toBe(0);

    // The main timeline has the root, with its count, and none of the replies.
    await waitFor(() => room.lastSeq === later.message.seq, 10_000, 'the main subscription');
    const main = room.messages();
    expect(main.map((m) => m.id)).not.toContain(early.message.id);
    expect(main.find((m) => m.id === root.message_id)?.reply_count).toBe(4);

    // Away while bob replies: the reply comes with the conversation's catch-up, the entry
    // (whose `thread` frame was missed) is read again on the welcome.
    alice.disconnect();
    const away = await bob.http.postMessage(conversation.id, {
      body: 'while away',
      thread_root: root.message_id,
    });
    alice.connect();
    await waitFor(() => thread.messages().some((m) => m.id === away.message.id), 10_000, 'the missed reply');
    await waitFor(() => thread.entry?.unread_count === 1, 10_000, 'the entry after the reconnect');
    expect(thread.root?.reply_count).toBe(5);
    thread.close();
  });
});

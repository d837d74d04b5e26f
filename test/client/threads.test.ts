// SDK thread timelines against a real node: client.thread() loads the root and its replies,
// follows live replies, sends replies through the client's outbox, tracks the user's thread
// entry (unread) and marks the thread read — over the socket (`thread_read`) when connected,
// over HTTP otherwise; the main timeline keeps replies out and counts them on the root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { HeraldClient } from '../../src/client/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';
import { sdkClient } from '../support/sdk-client.ts';
import { type Backend, backends } from '../support/stores.ts';
import { BlockingProxy } from './blocking-proxy.ts';

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

  it('marks a thread read over the socket when connected, over HTTP when not or when refused', async () => {
    const { tenant_id } = await t.createTenant();
    // alice's frames as written on her socket.
    const written: { type: string; [k: string]: unknown }[] = [];
    class Recording extends WebSocket {
      override send(data: string): void {
        written.push(JSON.parse(data));
        super.send(data);
      }
    }
    const alice = await sdkClient(t, tenant_id, 'alice', {
      storage: false,
      clients,
      WebSocket: Recording as unknown as typeof WebSocket,
    });
    const phone = await client(tenant_id, 'alice');
    const bob = await client(tenant_id, 'bob');
    const carol = await client(tenant_id, 'carol');
    const group = (
      await alice.http.request<{ conversation: { id: string } }>('POST', '/v1/conversations', {
        body: { kind: 'group', title: 'g', members: ['bob', 'carol'] },
      })
    ).conversation.id;
    const root = await alice.http.postMessage(group, { body: 'root' });
    const thread = alice.thread(group, root.message.id);
    await thread.loadOlder();
    const onPhone = phone.thread(group, root.message.id);
    let httpReads = 0;
    const http = alice.http.markThreadRead.bind(alice.http);
    alice.http.markThreadRead = (...args) => {
      httpReads++;
      return http(...args);
    };
    const r1 = await bob.http.postMessage(group, { body: 'one', thread_root: root.message.id });
    await waitFor(() => thread.entry?.unread_count === 1, 10_000, 'an unread reply');

    // Connected: a `thread_read` frame, confirmed by the `thread` frame, which the phone gets too.
    const read = await thread.markRead();
    expect(read).toMatchObject({ root_id: root.message.id, unread_count: 0, last_read_seq: r1.message.seq });
    expect(written.filter((f) => f.type === 'thread_read')).toEqual([
      { type: 'thread_read', conversation: group, root_id: root.message.id, seq: r1.message.seq },
    ]);
    expect(httpReads).toBe(0);
    await waitFor(() => onPhone.entry?.last_read_seq === r1.message.seq, 10_000, 'the phone’s entry');
    // Read that far already: nothing to send.
    expect(await thread.markRead(r1.message.seq)).toEqual(read);
    expect(written.filter((f) => f.type === 'thread_read')).toHaveLength(1);

    // Refused on the socket (past the head): HTTP gives the typed error.
    await expect(thread.markRead(r1.message.seq + 10)).rejects.toMatchObject({ code: 'INVALID_SEQ' });
    expect(written.filter((f) => f.type === 'thread_read')).toHaveLength(2);
    expect(httpReads).toBe(1);

    // Not connected: over HTTP.
    const r2 = await bob.http.postMessage(group, { body: 'two', thread_root: root.message.id });
    await waitFor(() => thread.entry?.unread_count === 1, 10_000, 'the second unread reply');
    alice.disconnect();
    expect(await thread.markRead()).toMatchObject({ unread_count: 0, last_read_seq: r2.message.seq });
    expect(httpReads).toBe(2);
    expect(written.filter((f) => f.type === 'thread_read')).toHaveLength(2);

    // A member who takes no part: over HTTP, the entry as it would be, nothing stored.
    const outside = carol.thread(group, root.message.id);
    await outside.loadOlder();
    expect(await outside.markRead()).toMatchObject({ version: 0, last_read_seq: r2.message.seq });
    for (const x of [thread, onPhone, outside]) x.close();
  });

  it('on the SSE fallback (no `thread_read` frame there) a thread is marked read over HTTP', async () => {
    const proxy = await BlockingProxy.start(t.url as string);
    proxy.mode = 'refuse';
    try {
      const { tenant_id } = await t.createTenant();
      const bob = await client(tenant_id, 'bob');
      const alice = await sdkClient(t, tenant_id, 'alice', {
        storage: false,
        clients,
        connect: false,
        url: proxy.url,
        backoff: { baseMs: 50, maxMs: 300 },
        fallback: { after: 2, probeMs: 600_000 },
      });
      alice.connect();
      await alice.ready();
      expect(alice.transport).toBe('sse');
      const { conversation } = await alice.http.direct('bob');
      const root = await alice.http.postMessage(conversation.id, { body: 'root' });
      const thread = alice.thread(conversation.id, root.message.id);
      await thread.loadOlder();
      let httpReads = 0;
      const http = alice.http.markThreadRead.bind(alice.http);
      alice.http.markThreadRead = (...args) => {
        httpReads++;
        return http(...args);
      };
      const reply = await bob.http.postMessage(conversation.id, {
        body: 'one',
        thread_root: root.message.id,
      });
      await waitFor(() => thread.entry?.unread_count === 1, 10_000, 'the unread reply over SSE');
      expect(await thread.markRead()).toMatchObject({ unread_count: 0, last_read_seq: reply.message.seq });
      expect(httpReads).toBe(1);
      thread.close();
      alice.disconnect();
    } finally {
      await proxy.close();
    }
  });
  it('a deleted reply lowers the root count in the thread and in the main timeline', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await client(tenant_id, 'alice');
    const bob = await client(tenant_id, 'bob');
    const { conversation } = await alice.http.direct('bob');
    const room = alice.open(conversation.id, { sinceSeq: 0 });
    const root = await alice.send(conversation.id, 'root').done;
    const thread = alice.thread(conversation.id, root.message_id);
    await thread.loadOlder();
    const first = await bob.http.postMessage(conversation.id, { body: 'one', thread_root: root.message_id });
    await bob.http.postMessage(conversation.id, { body: 'two', thread_root: root.message_id });
    await waitFor(() => thread.root?.reply_count === 2, 10_000, 'two replies counted');
    const mainRoot = () => room.messages().find((m) => m.id === root.message_id);
    await waitFor(() => mainRoot()?.reply_count === 2, 10_000, 'two replies on the main root');

    const del = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${conversation.id}/messages/${first.message.id}`,
      headers: t.bearer(await t.mintUser(tenant_id, 'bob')),
    });
    expect(del.status).toBe(200);
    await waitFor(() => thread.root?.reply_count === 1, 10_000, 'the thread root after the delete');
    await waitFor(() => mainRoot()?.reply_count === 1, 10_000, 'the main root after the delete');
    expect(thread.messages().find((m) => m.id === first.message.id)?.deleted_at).toBeTruthy();
    thread.close();
  });
});

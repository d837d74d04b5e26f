// Threads over HTTP: a reply (`thread_root`) is a message of the conversation's log with its
// own seq; it counts on its root and in its participants' thread entries, stays out of the
// main history, the preview and the conversation's unread; a thread pages by keyset; its read
// marker is its own. Bad paths are typed errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { ConversationEvent, InboxEntry, Message, ThreadEntry } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('threads over HTTP (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend });
  });
  afterAll(async () => t?.close());

  async function group() {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const carol = await t.mintUser(tenant_id, 'carol');
    const res = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(alice),
      payload: { kind: 'group', title: 'g', members: ['bob', 'carol'] },
    });
    return { tenant_id, alice, bob, carol, id: res.body.conversation.id };
  }
  const send = (who: TokenPair, id: string, payload: object, headers: Record<string, string> = {}) =>
    t.call<{ message: Message; error?: { code: string } }>({
      method: 'POST',
      url: `/v1/conversations/${id}/messages`,
      headers: { ...t.bearer(who), ...headers },
      payload,
    });
  const get = <T>(who: TokenPair, url: string) => t.call<T>({ method: 'GET', url, headers: t.bearer(who) });
  const thread = (who: TokenPair, id: string, root: string, q = '') =>
    get<{ root: Message; messages: Message[]; has_more: boolean }>(
      who,
      `/v1/conversations/${id}/threads/${root}/messages${q}`,
    );
  const entries = async (who: TokenPair, id: string) =>
    (await get<{ threads: ThreadEntry[] }>(who, `/v1/conversations/${id}/threads`)).body.threads;
  const inboxOf = async (who: TokenPair, id: string) =>
    (await get<{ entries: InboxEntry[] }>(who, '/v1/inbox')).body.entries.find(
      (e) => e.conversation_id === id,
    );

  it('a reply has its own seq, counts on its root and stays out of the main history and the inbox', async () => {
    const { alice, bob, carol, id } = await group();
    const root = (await send(bob, id, { body: 'root' })).body.message;
    const before = { alice: await inboxOf(alice, id), carol: await inboxOf(carol, id) };
    const reply = await send(alice, id, { body: 'in thread', thread_root: root.id });
    expect(reply.status).toBe(201);
    expect(reply.body.message).toMatchObject({ seq: root.seq + 1, thread_root: root.id, body: 'in thread' });

    // Main history: the root with its count, not the reply.
    const main = await get<{ messages: Message[] }>(carol, `/v1/conversations/${id}/messages`);
    expect(main.body.messages.map((m) => m.id)).not.toContain(reply.body.message.id);
    const listedRoot = main.body.messages.find((m) => m.id === root.id);
    expect(listedRoot).toMatchObject({ reply_count: 1, last_reply_at: expect.any(String) });
    // An ordinary message carries no thread fields at all.
    expect(Object.keys(main.body.messages[0])).not.toContain('reply_count');

    // The event log has the reply, with the root's count after it.
    const log = await get<{ events: { seq: number; event: ConversationEvent }[] }>(
      carol,
      `/v1/conversations/${id}/events?after_seq=${root.seq}`,
    );
    expect(log.body.events).toEqual([
      {
        seq: reply.body.message.seq,
        event: {
          type: 'message.created',
          message: expect.objectContaining({ id: reply.body.message.id, thread_root: root.id }),
          thread: { root_id: root.id, reply_count: 1, last_reply_at: expect.any(String) },
        },
      },
    ]);

    // Neither the preview nor anyone's unread or mention count moved; the head did.
    const after = { alice: await inboxOf(alice, id), carol: await inboxOf(carol, id) };
    expect(after.carol).toMatchObject({
      unread_count: before.carol?.unread_count,
      mention_count: 0,
      last_message: before.carol?.last_message,
      version: before.carol?.version,
      last_read_seq: before.carol?.last_read_seq,
    });
    expect(after.alice?.version).toBe(before.alice?.version);
    const conv = await get<{ conversation: { last_seq: number; last_message: { message_id: string } } }>(
      carol,
      `/v1/conversations/${id}`,
    );
    expect(conv.body.conversation).toMatchObject({ last_seq: reply.body.message.seq });
    expect(conv.body.conversation.last_message.message_id).toBe(root.id);

    // Reading the conversation to its head does not count the reply as unread either.
    const read = await t.call<{ entry: InboxEntry }>({
      method: 'POST',
      url: `/v1/conversations/${id}/read`,
      headers: t.bearer(carol),
      payload: { seq: root.seq - 1 },
    });
    expect(read.body.entry.unread_count).toBe(1); // the root only
  });

  it('thread entries: per participant unread, mentions join, mark-read is the thread’s own', async () => {
    const { alice, bob, carol, id } = await group();
    const root = (await send(bob, id, { body: 'root' })).body.message;
    const r1 = (await send(alice, id, { body: 'one', thread_root: root.id })).body.message;
    // Carol is neither author nor replier: no entry.
    expect(await entries(carol, id)).toEqual([]);
    expect(await entries(bob, id)).toEqual([
      expect.objectContaining({ root_id: root.id, unread_count: 1, reply_count: 1, last_read_seq: 0 }),
    ]);
    expect(await entries(alice, id)).toEqual([
      expect.objectContaining({ root_id: root.id, unread_count: 0, last_read_seq: r1.seq }),
    ]);
    const r2 = (await send(alice, id, { body: 'two @carol', mentions: ['carol'], thread_root: root.id })).body
      .message;
    expect(await entries(carol, id)).toEqual([
      expect.objectContaining({ root_id: root.id, unread_count: 1, reply_count: 2 }),
    ]);
    const [bobs] = await entries(bob, id);
    const one = (root_id: string) =>
      get<{ threads: ThreadEntry[] }>(bob, `/v1/conversations/${id}/threads?root_id=${root_id}`);
    expect((await one(root.id)).body.threads).toEqual([bobs]);
    expect((await one(r1.id)).body.threads).toEqual([]); // a reply's id is no entry's
    expect(bobs).toMatchObject({ unread_count: 2, reply_count: 2 });

    const mark = (who: TokenPair, seq: number, root_id = root.id) =>
      t.call<{ thread: ThreadEntry }>({
        method: 'POST',
        url: `/v1/conversations/${id}/threads/${root_id}/read`,
        headers: t.bearer(who),
        payload: { seq },
      });
    const marked = await mark(bob, r1.seq);
    expect(marked.body.thread).toMatchObject({ unread_count: 1, last_read_seq: r1.seq });
    expect(marked.body.thread.version).toBeGreaterThan(bobs.version);
    // Never back; marking by a reply's id names the same thread.
    expect((await mark(bob, 0, r2.id)).body.thread).toMatchObject({ last_read_seq: r1.seq, unread_count: 1 });
    expect((await mark(bob, r2.seq)).body.thread).toMatchObject({ unread_count: 0 });
    // The conversation's own marker did not move (bob read up to his own root).
    expect((await inboxOf(bob, id))?.last_read_seq).toBe(root.seq);
    expect(await mark(bob, r2.seq + 100)).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_SEQ' } },
    });
  });

  it('deleting a reply takes it from the thread unread of those who had not read it, not from the inbox', async () => {
    const { alice, bob, carol, id } = await group();
    const root = (await send(bob, id, { body: 'root' })).body.message;
    const reply = (await send(alice, id, { body: 'oops @carol', mentions: ['carol'], thread_root: root.id }))
      .body.message;
    const inboxBefore = await inboxOf(carol, id);
    expect((await entries(carol, id))[0]).toMatchObject({ unread_count: 1 });
    const del = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${id}/messages/${reply.id}`,
      headers: t.bearer(alice),
    });
    expect(del.status).toBe(200);
    expect((await entries(carol, id))[0]).toMatchObject({ unread_count: 0 });
    expect((await entries(bob, id))[0]).toMatchObject({ unread_count: 0 });
    // (The delete event moves the head; the entry itself is untouched.)
    const { unread_count, mention_count, version } = inboxBefore ?? {};
    expect(await inboxOf(carol, id)).toMatchObject({ unread_count, mention_count, version });
    const page = await thread(bob, id, root.id);
    // The deleted reply no longer counts: its root has none left (no reply_count, as before one).
    expect(page.body.root).not.toHaveProperty('reply_count');
    expect(page.body.messages).toEqual([
      expect.objectContaining({ id: reply.id, body: '', deleted_at: expect.any(String) }),
    ]);
  });

  it('a thread pages by keyset, ascending, newest page by default', async () => {
    const { alice, bob, id } = await group();
    const root = (await send(bob, id, { body: 'root' })).body.message;
    const other = (await send(bob, id, { body: 'other root' })).body.message;
    const replies: Message[] = [];
    for (let i = 0; i < 5; i++) {
      replies.push((await send(alice, id, { body: `r${i}`, thread_root: root.id })).body.message);
      await send(alice, id, { body: `elsewhere ${i}`, thread_root: other.id });
    }
    const seqs = (ms: Message[]) => ms.map((m) => m.seq);
    const newest = await thread(bob, id, root.id, '?limit=2');
    expect(newest.body.root).toMatchObject({ id: root.id, reply_count: 5 });
    expect(seqs(newest.body.messages)).toEqual(seqs(replies.slice(3)));
    expect(newest.body.has_more).toBe(true);
    const older = await thread(bob, id, root.id, `?limit=2&before_seq=${replies[3].seq}`);
    expect(seqs(older.body.messages)).toEqual(seqs(replies.slice(1, 3)));
    const after = await thread(bob, id, root.id, `?after_seq=${replies[1].seq}`);
    expect(seqs(after.body.messages)).toEqual(seqs(replies.slice(2)));
    expect(after.body.has_more).toBe(false);
  });

  it('a reply to a reply joins its root’s thread; a replay answers with the original', async () => {
    const { alice, bob, id } = await group();
    const root = (await send(bob, id, { body: 'root' })).body.message;
    const r1 = (await send(alice, id, { body: 'one', thread_root: root.id })).body.message;
    const r2 = await send(bob, id, { body: 'two', thread_root: r1.id });
    expect(r2.body.message.thread_root).toBe(root.id);
    expect((await thread(bob, id, r1.id)).body.root.id).toBe(root.id);

    const key = { 'idempotency-key': 'k-1' };
    const first = await send(alice, id, { body: 'once', thread_root: root.id }, key);
    const again = await send(alice, id, { body: 'once', thread_root: root.id }, key);
    expect(again.status).toBe(200);
    expect(again.body.message).toEqual(first.body.message);
    // The same key for the same body outside the thread is a different request.
    const moved = await send(alice, id, { body: 'once' }, key);
    expect(moved).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
    expect((await thread(bob, id, root.id)).body.root.reply_count).toBe(3);
  });

  it('refuses unknown roots, roots of other conversations and non-members', async () => {
    const { tenant_id, alice, bob, id } = await group();
    const elsewhere = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(alice),
      payload: { kind: 'group', title: 'h', members: ['bob'] },
    });
    const foreign = (await send(alice, elsewhere.body.conversation.id, { body: 'there' })).body.message;
    const root = (await send(bob, id, { body: 'root' })).body.message;
    for (const thread_root of ['no-such', foreign.id]) {
      expect(await send(alice, id, { body: 'x', thread_root })).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_THREAD_ROOT' } },
      });
    }
    expect(await send(alice, id, { body: 'x', thread_root: '' })).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED' } },
    });
    expect(await thread(alice, id, foreign.id)).toMatchObject({
      status: 404,
      body: { error: { code: 'MESSAGE_NOT_FOUND' } },
    });
    const dave = await t.mintUser(tenant_id, 'dave');
    expect(await send(dave, id, { body: 'x', thread_root: root.id })).toMatchObject({
      status: 403,
      body: { error: { code: 'NOT_A_MEMBER' } },
    });
    expect(await thread(dave, id, root.id)).toMatchObject({ status: 403 });
    expect(await get(dave, `/v1/conversations/${id}/threads`)).toMatchObject({ status: 403 });
    const mark = await t.call({
      method: 'POST',
      url: `/v1/conversations/${id}/threads/${root.id}/read`,
      headers: t.bearer(dave),
      payload: { seq: 1 },
    });
    expect(mark).toMatchObject({ status: 403, body: { error: { code: 'NOT_A_MEMBER' } } });
    // Nothing of the refused replies was written.
    expect((await thread(bob, id, root.id)).body.messages).toEqual([]);
  });
});

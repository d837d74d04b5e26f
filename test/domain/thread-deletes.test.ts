// Deleting a thread reply: the reply stays in the thread as deleted, but its root counts it no
// more — in history, in the thread page, in the delete's own event (the root's count after it,
// as a reply's event carries) and in every participant's thread entry, which each gets again
// as a `thread` frame. Those who had not read the reply have one unread fewer.
import { describe, expect, it } from 'vitest';
import { deleteMessage } from '../../src/domain/edits.ts';
import { listThread, listThreadEntries, markThreadRead } from '../../src/domain/threads.ts';
import type { ThreadEntry } from '../../src/protocol/index.ts';
import { pgReads } from '../../src/store/pg/index.ts';
import { type Backend, backends } from '../support/stores.ts';
import { eventsOf, groupOf, outboxHead, outboxOf, roomTopic, userTopic, useStore } from './support.ts';

describe.each(backends())('deleting thread replies (%s)', (backend: Backend) => {
  const s = useStore(backend);

  it('the root counts one reply fewer in history, in the live summary and in every entry', async () => {
    const { deps, tenant, id, send } = await groupOf(s.db, ['alice', 'bob', 'carol']);
    const reads = pgReads(s.db);
    const root = await send('alice', { body: 'root' });
    const r1 = await send('bob', { body: 'one', thread_root: root.id });
    const r2 = await send('carol', { body: 'two', thread_root: root.id });
    // bob reads the whole thread; alice reads nothing.
    await markThreadRead(deps, tenant, 'bob', id, root.id, r2.seq);
    const rootInHistory = async () =>
      (await reads.conversations.messages(tenant, id, { limit: 50 })).messages.find((m) => m.id === root.id);
    const entryOf = async (user: string) =>
      (await listThreadEntries(reads, tenant, user, id, 10, root.id))[0];
    expect(await rootInHistory()).toMatchObject({ reply_count: 2 });
    const before = { alice: await entryOf('alice'), bob: await entryOf('bob') };
    expect(before.alice).toMatchObject({ reply_count: 2, unread_count: 2 });

    const head = await outboxHead(s.db);
    await deleteMessage(deps, tenant, 'carol', id, r2.id);

    // History and the thread page: one reply left, the deleted one shown as deleted.
    expect(await rootInHistory()).toMatchObject({ reply_count: 1, last_reply_at: expect.any(String) });
    const page = await listThread(reads, tenant, 'bob', id, root.id, { limit: 50 });
    expect(page.root.reply_count).toBe(1);
    expect(page.messages.map((m) => [m.id, m.deleted_at !== null])).toEqual([
      [r1.id, false],
      [r2.id, true],
    ]);
    // Live: the delete's event carries the root's count after it, in the log and in the frame.
    const rows = await outboxOf(s.db, tenant, head);
    const room = rows.filter((r) => r.topic === roomTopic(tenant, id));
    expect(room).toHaveLength(1);
    expect(room[0].payload.event).toEqual({
      type: 'message.deleted',
      message_id: r2.id,
      deleted_at: expect.any(String),
      thread: { root_id: root.id, reply_count: 1, last_reply_at: expect.any(String) },
    });
    const logged = (await eventsOf(s.db, tenant, id)).find((e) => Number(e.seq) === room[0].payload.seq);
    expect(logged?.payload).toEqual(room[0].payload.event);
    // Every participant's entry counts one reply fewer, with a new version and a `thread` frame;
    // only alice had not read the reply (carol sent it, bob had read it).
    const thread = (user: string) =>
      rows
        .filter((r) => r.topic === userTopic(tenant, user) && r.payload.type === 'thread')
        .map((r) => r.payload.entry as ThreadEntry);
    for (const user of ['alice', 'bob', 'carol']) {
      const entry = await entryOf(user);
      expect(entry.reply_count, user).toBe(1);
      expect(thread(user), user).toEqual([entry]);
    }
    expect(await entryOf('alice')).toMatchObject({ unread_count: 1 });
    expect((await entryOf('alice')).version).toBeGreaterThan(before.alice.version);
    expect(await entryOf('bob')).toMatchObject({ unread_count: 0, last_read_seq: r2.seq });
    expect((await entryOf('bob')).version).toBeGreaterThan(before.bob.version);

    // The last reply deleted: the root counts none, as before its first reply.
    await deleteMessage(deps, tenant, 'bob', id, r1.id);
    const none = await rootInHistory();
    expect(none?.reply_count).toBeUndefined();
    expect(none?.last_reply_at).toBeUndefined();
    expect(
      (await listThread(reads, tenant, 'bob', id, root.id, { limit: 50 })).root.reply_count,
    ).toBeUndefined();
    expect(await entryOf('alice')).toMatchObject({ reply_count: 0, unread_count: 0 });
    const last = (await eventsOf(s.db, tenant, id)).at(-1);
    expect(last?.payload).toMatchObject({
      type: 'message.deleted',
      thread: { root_id: root.id, reply_count: 0 },
    });
  });

  it('deleting a message outside threads adds no thread summary and touches no thread entry', async () => {
    const { deps, tenant, id, send } = await groupOf(s.db, ['alice', 'bob']);
    const root = await send('alice', { body: 'root' });
    await send('bob', { body: 'reply', thread_root: root.id });
    const other = await send('bob', { body: 'elsewhere' });
    const head = await outboxHead(s.db);
    await deleteMessage(deps, tenant, 'bob', id, other.id);
    const rows = await outboxOf(s.db, tenant, head);
    expect(rows.filter((r) => r.payload.type === 'thread')).toEqual([]);
    expect(rows.find((r) => r.topic === roomTopic(tenant, id))?.payload.event).not.toHaveProperty('thread');
    const page = await listThread(pgReads(s.db), tenant, 'alice', id, root.id, { limit: 50 });
    expect(page.root.reply_count).toBe(1);
  });
});

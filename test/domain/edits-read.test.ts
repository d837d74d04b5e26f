import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation, removeMember } from '../../src/domain/conversations.ts';
import { deleteMessage, editMessage } from '../../src/domain/edits.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import { memoryViewing } from '../../src/registry/memory-viewing.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import {
  depsOf,
  eventsOf,
  headSeq,
  inboxOf,
  messageRow,
  outboxHead,
  outboxOf,
  roomTopic,
  userNames,
  userTopic,
  useStore,
} from './support.ts';

describe.each(backends())('edits, deletes and read markers (%s)', (backend: Backend) => {
  const s = useStore(backend);
  const alice = { type: 'user', user_id: 'alice' } as const;

  async function group(users = ['alice', 'bob', 'carol']) {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, users);
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'g',
      members: users,
    });
    const send = async (sender: string, body: string, mentions: string[] = []) =>
      (
        await execute(deps, tenant, {
          kind: 'GroupMessage',
          sender,
          conversation: id,
          input: { body, mentions },
        })
      ).message;
    const preview = async () =>
      (
        await s.db.query<{ last_message: { message_id: string; body: string; seq: number } }>(
          'SELECT last_message FROM conversations WHERE tenant_id = $1 AND id = $2',
          [tenant, id],
        )
      ).rows[0].last_message;
    return { deps, tenant, id, send, preview };
  }

  it('an edit and a delete are events with their own seq; the message keeps its creation seq', async () => {
    const { deps, tenant, id, send } = await group();
    const m = await send('alice', 'draft');
    const head = await outboxHead(s.db);
    const edited = await editMessage(deps, tenant, 'alice', id, m.id, 'final');
    expect(edited).toMatchObject({ id: m.id, seq: m.seq, body: 'final', edited_at: expect.any(String) });
    const editFrames = (await outboxOf(s.db, tenant, head)).filter((r) => r.payload.type === 'event');
    expect(editFrames.map((r) => [r.topic, r.payload])).toEqual([
      [
        roomTopic(tenant, id),
        {
          type: 'event',
          conversation: id,
          seq: m.seq + 1,
          event: { type: 'message.edited', message: edited },
        },
      ],
    ]);
    const deleted = await deleteMessage(deps, tenant, 'alice', id, m.id);
    expect(deleted).toMatchObject({ id: m.id, seq: m.seq, deleted_at: expect.any(String) });
    expect(await headSeq(s.db, tenant, id)).toBe(m.seq + 2);

    const events = await eventsOf(s.db, tenant, id);
    expect(events.slice(-3).map((e) => [e.seq, e.type, e.message_id])).toEqual([
      [m.seq, 'message.created', m.id],
      [m.seq + 1, 'message.edited', m.id],
      [m.seq + 2, 'message.deleted', m.id],
    ]);
    const room = (await outboxOf(s.db, tenant, head)).filter((r) => r.topic === roomTopic(tenant, id));
    expect(room.map((r) => r.payload)).toEqual([
      {
        type: 'event',
        conversation: id,
        seq: m.seq + 1,
        // After the delete, the earlier frame carries the deleted state, not the body.
        event: {
          type: 'message.edited',
          message: expect.objectContaining({ id: m.id, body: '', deleted_at: deleted.deleted_at }),
        },
      },
      {
        type: 'event',
        conversation: id,
        seq: m.seq + 2,
        event: { type: 'message.deleted', message_id: m.id, deleted_at: deleted.deleted_at },
      },
    ]);
  });

  it("an admin may delete another member's message; only the author may edit it", async () => {
    const { deps, tenant, id, send } = await group();
    const m = await send('bob', 'off-topic');
    // alice created the group: she is its admin.
    const deleted = await deleteMessage(deps, tenant, 'alice', id, m.id);
    expect(deleted).toMatchObject({ id: m.id, body: '', deleted_at: expect.any(String) });
    const other = await send('bob', 'fine');
    const edited = await editMessage(deps, tenant, 'bob', id, other.id, 'fine!');
    expect(edited.body).toBe('fine!');
  });

  it('the preview follows the latest message: editing it updates the preview, editing an older one does not', async () => {
    const { deps, tenant, id, send, preview } = await group();
    const older = await send('alice', 'older');
    const latest = await send('bob', 'latest');
    expect(await preview()).toMatchObject({ message_id: latest.id, body: 'latest' });
    await editMessage(deps, tenant, 'alice', id, older.id, 'older, edited');
    expect(await preview()).toMatchObject({ message_id: latest.id, body: 'latest' });
    await editMessage(deps, tenant, 'bob', id, latest.id, 'latest, edited');
    expect(await preview()).toMatchObject({ message_id: latest.id, body: 'latest, edited' });
    await deleteMessage(deps, tenant, 'bob', id, latest.id);
    expect(await preview()).toMatchObject({ message_id: latest.id, body: '' });
    const next = await send('carol', 'newest');
    expect(await preview()).toMatchObject({ message_id: next.id, body: 'newest' });
  });

  it('a delete erases the body everywhere it was stored: message, log and pending frames', async () => {
    const { deps, tenant, id, send } = await group();
    const secret = 'my password is hunter2';
    const m = await send('alice', secret, ['bob']);
    await editMessage(deps, tenant, 'alice', id, m.id, `${secret}!`);
    await deleteMessage(deps, tenant, 'alice', id, m.id);
    expect(await messageRow(s.db, tenant, m.id)).toMatchObject({ body: '', mentions: [], attachments: [] });
    const { rows } = await s.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM events WHERE tenant_id = $1 AND payload::text LIKE $2)
            + (SELECT count(*) FROM outbox WHERE tenant_id = $1 AND payload::text LIKE $2)
            + (SELECT count(*) FROM conversations WHERE tenant_id = $1 AND last_message::text LIKE $2) AS n`,
      [tenant, '%hunter2%'],
    );
    expect(Number(rows[0].n)).toBe(0);
    // The log still says a message existed at that seq.
    const events = await eventsOf(s.db, tenant, id);
    expect(events.find((e) => e.seq === m.seq)).toMatchObject({ type: 'message.created', message_id: m.id });
  });

  it('a delete takes an unread message out of the counts and pushes the new preview to inboxes', async () => {
    const { deps, tenant, id, send } = await group();
    const m = await send('alice', 'hey @bob', ['bob']);
    expect(
      (await inboxOf(s.db, tenant, id)).map((e) => [e.user_id, e.unread_count, e.mention_count]),
    ).toEqual([
      ['alice', 0, 0],
      ['bob', 1, 1],
      ['carol', 1, 0],
    ]);
    await markRead(deps, tenant, 'carol', id, m.seq);
    const before = await inboxOf(s.db, tenant, id);
    const head = await outboxHead(s.db);
    await deleteMessage(deps, tenant, 'alice', id, m.id);
    const after = await inboxOf(s.db, tenant, id);
    expect(after.map((e) => [e.user_id, e.unread_count, e.mention_count])).toEqual([
      ['alice', 0, 0],
      ['bob', 0, 0],
      ['carol', 0, 0],
    ]);
    // Every entry shows a new preview: new versions for inbox sync, a frame each for live clients.
    expect(after.every((e, i) => e.version > before[i].version)).toBe(true);
    const frames = (await outboxOf(s.db, tenant, head)).filter((r) => r.payload.type === 'inbox');
    expect(frames.map((r) => r.topic).sort()).toEqual(
      ['alice', 'bob', 'carol'].map((u) => userTopic(tenant, u)),
    );
    for (const f of frames)
      expect(f.payload.entry.last_message).toMatchObject({ message_id: m.id, body: '' });
  });

  it('editing an older message leaves inboxes alone; editing the latest refreshes their preview', async () => {
    const { deps, tenant, id, send } = await group();
    const older = await send('alice', 'older');
    const latest = await send('alice', 'latest');
    const head = await outboxHead(s.db);
    await editMessage(deps, tenant, 'alice', id, older.id, 'older!');
    expect((await outboxOf(s.db, tenant, head)).map((r) => r.payload.type)).toEqual(['event']);
    const before = await inboxOf(s.db, tenant, id);
    const head2 = await outboxHead(s.db);
    await editMessage(deps, tenant, 'alice', id, latest.id, 'latest!');
    const inbox = (await outboxOf(s.db, tenant, head2)).filter((r) => r.payload.type === 'inbox');
    expect(inbox).toHaveLength(3);
    for (const f of inbox) expect(f.payload.entry.last_message).toMatchObject({ body: 'latest!' });
    // Counts are untouched by an edit.
    const after = await inboxOf(s.db, tenant, id);
    expect(after.map((e) => e.unread_count)).toEqual(before.map((e) => e.unread_count));
  });

  it('mark-read only moves forward and recomputes unread and mention counts from the log', async () => {
    const { deps, tenant, id, send } = await group();
    const m1 = await send('alice', 'one', ['carol']);
    await send('alice', 'two');
    const m3 = await send('bob', 'three', ['carol']);
    const m4 = await send('carol', 'four (own message)');
    await send('alice', 'five');
    const carol = async () => (await inboxOf(s.db, tenant, id)).find((e) => e.user_id === 'carol')!;
    // carol's own send marked everything up to m4 read.
    expect(await carol()).toMatchObject({ last_read_seq: m4.seq, unread_count: 1, mention_count: 0 });

    const { deps: d2, tenant: t2, id: c2, send: send2 } = await group();
    const a = await send2('alice', 'a', ['carol']);
    await send2('alice', 'b');
    const c = await send2('bob', 'c', ['carol']);
    await send2('alice', 'd');
    const entry = async () => (await inboxOf(s.db, t2, c2)).find((e) => e.user_id === 'carol')!;
    expect(await entry()).toMatchObject({ last_read_seq: 1, unread_count: 4, mention_count: 2 });

    const head = await outboxHead(s.db);
    const r1 = await markRead(d2, t2, 'carol', c2, a.seq);
    expect(r1.moved).toBe(true);
    expect(r1.entry).toMatchObject({ last_read_seq: a.seq, unread_count: 3, mention_count: 1 });
    const frames = await outboxOf(s.db, t2, head);
    expect(frames.map((f) => [f.topic, f.payload.type])).toEqual([
      [roomTopic(t2, c2), 'receipt'],
      [userTopic(t2, 'carol'), 'inbox'],
    ]);
    // Read implies delivered: the receipt carries both.
    expect(frames[0].payload).toEqual({
      type: 'receipt',
      conversation: c2,
      user_id: 'carol',
      seq: a.seq,
      delivered_seq: a.seq,
    });

    const r2 = await markRead(d2, t2, 'carol', c2, c.seq);
    expect(r2.entry).toMatchObject({ last_read_seq: c.seq, unread_count: 1, mention_count: 0 });
    // Backwards: no move, no frame, counts unchanged.
    const head2 = await outboxHead(s.db);
    const back = await markRead(d2, t2, 'carol', c2, a.seq);
    expect(back.moved).toBe(false);
    expect(back.entry).toMatchObject({ last_read_seq: c.seq, unread_count: 1, mention_count: 0 });
    expect(await outboxOf(s.db, t2, head2)).toEqual([]);
    expect(await entry()).toMatchObject({ last_read_seq: c.seq, unread_count: 1 });
    // Reading to the head clears everything.
    const all = await markRead(d2, t2, 'carol', c2, await headSeq(s.db, t2, c2));
    expect(all.entry).toMatchObject({ unread_count: 0, mention_count: 0 });
    void deps;
    void m1;
    void m3;
  });

  it('a message to a viewer of the conversation is written already read for them', async () => {
    const viewing = memoryViewing();
    const deps = depsOf(s.db, { viewing });
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol']);
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'v',
      members: ['bob', 'carol'],
    });
    const { id: elsewhere } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'w',
      members: ['carol'],
    });
    await viewing.set(tenant, 'bob', 'phone', id);
    await viewing.set(tenant, 'carol', 'laptop', elsewhere);
    const head = await outboxHead(s.db);
    const { message } = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'you there?', mentions: ['bob'] },
    });
    expect(await inboxOf(s.db, tenant, id)).toEqual([
      expect.objectContaining({ user_id: 'alice', last_read_seq: message.seq, unread_count: 0 }),
      expect.objectContaining({
        user_id: 'bob',
        last_read_seq: message.seq,
        unread_count: 0,
        mention_count: 0,
      }),
      expect.objectContaining({ user_id: 'carol', last_read_seq: 1, unread_count: 1 }),
    ]);
    const bobFrame = (await outboxOf(s.db, tenant, head)).find((r) => r.topic === userTopic(tenant, 'bob'))!;
    expect(bobFrame.payload.entry).toMatchObject({ last_read_seq: message.seq, unread_count: 0 });
    // Once bob looks away, the next message counts.
    await viewing.set(tenant, 'bob', 'phone', null);
    await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'hello?' },
    });
    expect((await inboxOf(s.db, tenant, id)).find((e) => e.user_id === 'bob')).toMatchObject({
      unread_count: 1,
    });
  });

  it('in a large channel every viewer reads the message, with O(1) writes for the others', async () => {
    const viewing = memoryViewing();
    const deps = depsOf(s.db, { viewing, limits: { largeChannelThreshold: 3 } });
    const members = userNames(6);
    const tenant = await seedTenant(s.db, ['alice', ...members]);
    const { id } = await createConversation(deps, tenant, alice, { kind: 'channel', title: 'big', members });
    await viewing.set(tenant, members[2], 'tab', id);
    const before = await inboxOf(s.db, tenant, id);
    const { message } = await execute(deps, tenant, {
      kind: 'ChannelMessage',
      sender: members[0],
      conversation: id,
      input: { body: 'x' },
    });
    const after = await inboxOf(s.db, tenant, id);
    const changed = after.filter((e, i) => e.version !== before[i].version).map((e) => e.user_id);
    expect(changed.sort()).toEqual([members[0], members[2]]);
    expect(after.find((e) => e.user_id === members[2])).toMatchObject({ last_read_seq: message.seq });

    // A viewer who has just left (still listed until the registry's TTL) gets nothing.
    await removeMember(deps, tenant, { type: 'user', user_id: members[2] }, id, members[2]);
    const head = await outboxHead(s.db);
    await execute(deps, tenant, {
      kind: 'ChannelMessage',
      sender: members[0],
      conversation: id,
      input: { body: 'y' },
    });
    expect((await inboxOf(s.db, tenant, id)).map((e) => e.user_id)).not.toContain(members[2]);
    const topics = (await outboxOf(s.db, tenant, head)).map((r) => r.topic);
    expect(topics).not.toContain(userTopic(tenant, members[2]));
  });
});

import { describe, expect, it } from 'vitest';
import { execute } from '../../../src/domain/commands.ts';
import { addMembers, createConversation, join, removeMember } from '../../../src/domain/conversations.ts';
import { markRead } from '../../../src/domain/read-marker.ts';
import { inboxEntryJson } from '../../../src/store/pg/sql.ts';
import { seedTenant } from '../../support/fixtures.ts';
import { type Backend, backends } from '../../support/stores.ts';
import {
  depsOf,
  eventsOf,
  inboxOf,
  messageRow,
  outboxHead,
  outboxOf,
  roomTopic,
  userNames,
  userTopic,
  useStore,
} from '../support.ts';

describe.each(backends())('SystemEvent (%s)', (backend: Backend) => {
  const s = useStore(backend);
  const alice = { type: 'user', user_id: 'alice' } as const;

  it('created, joined and left are system messages in the log, never counted unread', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol', 'dave']);
    const head0 = await outboxHead(s.db);
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'g',
      members: ['bob'],
    });
    await addMembers(deps, tenant, alice, id, ['carol']);
    await removeMember(deps, tenant, { type: 'user', user_id: 'bob' }, id, 'bob');

    const events = await eventsOf(s.db, tenant, id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    const messages = await Promise.all(events.map((e) => messageRow(s.db, tenant, e.message_id)));
    expect(messages.map((m) => [m.kind, m.sender_id, m.data])).toEqual([
      ['system', null, { event: 'created', by: 'alice', title: 'g' }],
      ['system', null, { event: 'joined', user_ids: ['carol'], by: null }],
      ['system', null, { event: 'left', user_ids: ['bob'], by: 'bob' }],
    ]);
    expect(messages.map((m) => m.body)).toEqual(['Conversation "g" created', 'carol joined', 'bob left']);

    // Nobody has unread: system messages do not count.
    const inbox = await inboxOf(s.db, tenant, id);
    expect(inbox.map((e) => [e.user_id, e.unread_count, e.mention_count])).toEqual([
      ['alice', 0, 0],
      ['carol', 0, 0],
    ]);
    // The room got one event frame per system message, in seq order.
    const out = await outboxOf(s.db, tenant, head0);
    const room = out.filter((r) => r.topic === roomTopic(tenant, id));
    expect(room.map((r) => [r.payload.seq, r.payload.event.type, r.payload.event.message.kind])).toEqual([
      [1, 'message.created', 'system'],
      [2, 'message.created', 'system'],
      [3, 'message.created', 'system'],
    ]);
    // Members at each event got an inbox frame with zero unread.
    const personal = out.filter((r) => r.topic.startsWith(`t:${tenant}:u:`));
    expect(personal.length).toBeGreaterThan(0);
    expect(personal.every((r) => r.payload.entry.unread_count === 0)).toBe(true);
    expect(out.some((r) => r.topic === userTopic(tenant, 'dave'))).toBe(false);

    // A user message after them counts exactly one; mark-read recomputes without them.
    await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'hi' },
    });
    expect((await inboxOf(s.db, tenant, id)).find((e) => e.user_id === 'carol')?.unread_count).toBe(1);
    const r = await markRead(deps, tenant, 'carol', id, 2);
    expect(r.entry.unread_count).toBe(1);
  });

  it('in a large channel a join touches only the joiner, who does not start with unread', async () => {
    const deps = depsOf(s.db, { limits: { largeChannelThreshold: 3 } });
    const members = userNames(5);
    const tenant = await seedTenant(s.db, ['owner', 'newbie', ...members]);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'owner' },
      {
        kind: 'channel',
        title: 'big',
        members,
      },
    );
    const derived = async () => {
      const { rows } = await s.db.query<{ user_id: string; entry: { unread_count: number } }>(
        `SELECT e.user_id, ${inboxEntryJson(3)} AS entry FROM inbox_entries e
           JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
          WHERE e.tenant_id = $1 AND e.conversation_id = $2 ORDER BY e.user_id`,
        [tenant, id],
      );
      return Object.fromEntries(rows.map((r) => [r.user_id, r.entry.unread_count]));
    };
    // Nobody starts with the creation event unread.
    expect(Object.values(await derived()).every((n) => n === 0)).toBe(true);
    const before = await inboxOf(s.db, tenant, id);
    const head = await outboxHead(s.db);
    await join(deps, tenant, 'newbie', id);
    expect((await derived()).newbie).toBe(0);
    const after = await inboxOf(s.db, tenant, id);
    const untouched = after.filter((e) => e.user_id !== 'newbie');
    expect(untouched).toEqual(before);
    // Frames: the room's event plus the joiner's own inbox entry (join, then the event).
    const out = await outboxOf(s.db, tenant, head);
    expect(
      out
        .filter((r) => r.topic.startsWith(`t:${tenant}:u:`))
        .every((r) => r.topic === userTopic(tenant, 'newbie')),
    ).toBe(true);
  });

  it('a SystemEvent command appends to any conversation with its own seq', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'system' },
      { kind: 'channel', title: 'c', members: ['alice', 'bob'] },
    );
    await join(deps, tenant, 'alice', id); // already a member: no event
    const head = await outboxHead(s.db);
    const { message } = await execute(deps, tenant, {
      kind: 'SystemEvent',
      conversation: id,
      data: { event: 'renamed', title: 'c2', by: 'alice' },
    });
    expect(message).toMatchObject({
      seq: 2,
      kind: 'system',
      sender: { type: 'system' },
      body: 'Renamed to "c2"',
    });
    const out = await outboxOf(s.db, tenant, head);
    expect(out[0]).toMatchObject({ topic: roomTopic(tenant, id), payload: { seq: 2, type: 'event' } });
    expect(out.slice(1).map((o) => o.payload.entry.unread_count)).toEqual([0, 0]);
    expect((await inboxOf(s.db, tenant, id)).every((e) => e.unread_count === 0)).toBe(true);
  });
});

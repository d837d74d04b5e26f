import { describe, expect, it } from 'vitest';
import { execute } from '../../../src/domain/commands.ts';
import { addMembers, createConversation, removeMember } from '../../../src/domain/conversations.ts';
import { seedTenant, snapshot } from '../../support/fixtures.ts';
import { type Backend, backends } from '../../support/stores.ts';
import {
  depsOf,
  eventsOf,
  expectCode,
  inboxOf,
  messageRow,
  outboxHead,
  outboxOf,
  roomTopic,
  userTopic,
  useStore,
} from '../support.ts';

describe.each(backends())('GroupMessage (%s)', (backend: Backend) => {
  const s = useStore(backend);

  it('fans out to every member at commit: message, event, inbox entries, room + personal outbox', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol', 'dave']);
    const user = (u: string) => ({ type: 'user', user_id: u }) as const;
    const { id } = await createConversation(deps, tenant, user('alice'), {
      kind: 'group',
      title: 'team',
      members: ['bob', 'carol'],
    });
    const head = await outboxHead(s.db);
    const { message } = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'bob',
      conversation: id,
      input: { body: 'hello @carol', mentions: ['carol'], client_id: 'g1' },
    });
    // seq 1 is the creation SystemEvent.
    expect(message).toMatchObject({ seq: 2, kind: 'group', mentions: ['carol'], conversation_id: id });
    expect(await messageRow(s.db, tenant, message.id)).toMatchObject({
      seq: 2,
      sender_id: 'bob',
      mentions: ['carol'],
    });
    const events = await eventsOf(s.db, tenant, id);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'message.created'],
      [2, 'message.created'],
    ]);
    expect(events[1].message_id).toBe(message.id);
    expect(await inboxOf(s.db, tenant, id)).toEqual([
      // Members have read the creation event (seq 1) that is about them.
      expect.objectContaining({ user_id: 'alice', last_read_seq: 1, unread_count: 1, mention_count: 0 }),
      expect.objectContaining({ user_id: 'bob', last_read_seq: 2, unread_count: 0, mention_count: 0 }),
      expect.objectContaining({ user_id: 'carol', last_read_seq: 1, unread_count: 1, mention_count: 1 }),
    ]);

    const out = await outboxOf(s.db, tenant, head);
    expect(out[0].topic).toBe(roomTopic(tenant, id));
    expect(out[0].payload).toEqual({
      type: 'event',
      conversation: id,
      seq: 2,
      event: { type: 'message.created', message },
    });
    const personal = out.slice(1).sort((a, b) => a.topic.localeCompare(b.topic));
    expect(personal.map((r) => r.topic)).toEqual(['alice', 'bob', 'carol'].map((u) => userTopic(tenant, u)));
    expect(personal.map((r) => r.payload.entry.unread_count)).toEqual([1, 0, 1]);
    expect(personal.map((r) => r.payload.entry.mention_count)).toEqual([0, 0, 1]);
    for (const r of personal) {
      expect(r.payload).toMatchObject({
        type: 'inbox',
        entry: { conversation_id: id, kind: 'group', title: 'team', last_seq: 2, last_message: { seq: 2 } },
      });
    }
    // dave is not a member: no row, no frame.
    expect(out.some((r) => r.topic === userTopic(tenant, 'dave'))).toBe(false);
  });

  it('the trace id travels into every outbox row of the send', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      {
        kind: 'group',
        title: null,
        members: ['bob'],
      },
    );
    const head = await outboxHead(s.db);
    await execute(
      deps,
      tenant,
      { kind: 'GroupMessage', sender: 'bob', conversation: id, input: { body: 't' } },
      'trace-42',
    );
    const { rows } = await s.db.query<{ trace_id: string | null }>(
      'SELECT trace_id FROM outbox WHERE tenant_id = $1 AND id > $2',
      [tenant, head],
    );
    expect(rows.map((r) => r.trace_id)).toEqual(['trace-42', 'trace-42', 'trace-42']);
  });

  it('recipients are the members at commit time', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol', 'dave']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: null,
      members: ['bob', 'carol'],
    });
    await addMembers(deps, tenant, alice, id, ['dave']);
    await removeMember(deps, tenant, alice, id, 'carol');
    const head = await outboxHead(s.db);
    await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'hi' },
    });
    const topics = (await outboxOf(s.db, tenant, head)).map((r) => r.topic).sort();
    expect(topics).toEqual(
      [roomTopic(tenant, id), ...['alice', 'bob', 'dave'].map((u) => userTopic(tenant, u))].sort(),
    );
    expect((await inboxOf(s.db, tenant, id)).map((e) => e.user_id)).toEqual(['alice', 'bob', 'dave']);
  });

  it('refuses non-members and other kinds, writing nothing', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'eve']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: null,
      members: ['bob'],
    });
    const { id: channel } = await createConversation(deps, tenant, alice, {
      kind: 'channel',
      title: 'c',
      members: [],
    });
    const before = await snapshot(s.db, tenant);
    await expectCode(
      execute(deps, tenant, { kind: 'GroupMessage', sender: 'eve', conversation: id, input: { body: 'x' } }),
      'NOT_A_MEMBER',
    );
    await expectCode(
      execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: channel,
        input: { body: 'x' },
      }),
      'INVALID_KIND',
    );
    expect(await snapshot(s.db, tenant)).toEqual(before);
  });
});

import { describe, expect, it } from 'vitest';
import { execute } from '../../../src/domain/commands.ts';
import { seedTenant, snapshot } from '../../support/fixtures.ts';
import { type Backend, backends } from '../../support/stores.ts';
import {
  depsOf,
  eventsOf,
  expectCode,
  inboxOf,
  messageRow,
  outboxOf,
  roomTopic,
  userTopic,
  useStore,
} from '../support.ts';

describe.each(backends())('DirectMessage (%s)', (backend: Backend) => {
  const s = useStore(backend);

  it('creates the pair conversation on first send and writes message, event, inbox and outbox rows', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const { message, replayed } = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'hi bob', client_id: 'c1' },
    });
    expect(replayed).toBe(false);
    expect(message).toMatchObject({
      seq: 1,
      kind: 'direct',
      sender: { type: 'user', user_id: 'alice' },
      body: 'hi bob',
      client_id: 'c1',
      tenant_id: tenant,
    });
    const conv = message.conversation_id;

    const { rows: convs } = await s.db.query(
      'SELECT kind, member_count, last_seq, direct_key, last_message FROM conversations WHERE tenant_id = $1',
      [tenant],
    );
    expect(convs).toEqual([
      {
        kind: 'direct',
        member_count: 2,
        last_seq: 1,
        direct_key: 'alice|bob',
        last_message: expect.objectContaining({ message_id: message.id, seq: 1, body: 'hi bob' }),
      },
    ]);
    expect(await messageRow(s.db, tenant, message.id)).toMatchObject({
      seq: 1,
      sender_id: 'alice',
      body: 'hi bob',
    });
    const events = await eventsOf(s.db, tenant, conv);
    expect(events).toEqual([
      {
        seq: 1,
        type: 'message.created',
        message_id: message.id,
        payload: { type: 'message.created', message: expect.objectContaining({ id: message.id, seq: 1 }) },
      },
    ]);
    expect(await inboxOf(s.db, tenant, conv)).toEqual([
      expect.objectContaining({ user_id: 'alice', last_read_seq: 1, unread_count: 0, mention_count: 0 }),
      expect.objectContaining({ user_id: 'bob', last_read_seq: 0, unread_count: 1, mention_count: 0 }),
    ]);

    const outbox = await outboxOf(s.db, tenant);
    expect(outbox).toHaveLength(3);
    expect(outbox[0].topic).toBe(roomTopic(tenant, conv));
    expect(outbox[0].payload).toEqual({
      type: 'event',
      conversation: conv,
      seq: 1,
      event: { type: 'message.created', message: { ...message } },
    });
    const personal = outbox.slice(1).sort((a, b) => a.topic.localeCompare(b.topic));
    expect(personal.map((r) => r.topic)).toEqual([userTopic(tenant, 'alice'), userTopic(tenant, 'bob')]);
    for (const r of personal) {
      expect(r.payload).toMatchObject({
        type: 'inbox',
        entry: {
          conversation_id: conv,
          kind: 'direct',
          last_seq: 1,
          last_message: { message_id: message.id },
        },
      });
    }
    expect(personal[1].payload.entry).toMatchObject({ unread_count: 1, last_read_seq: 0 });
    expect(outbox.every((r) => !r.published)).toBe(true);
  });

  it('keeps one conversation per pair, whichever side sends', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol']);
    const a = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: '1' },
    });
    const b = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'bob',
      to: 'alice',
      input: { body: '2' },
    });
    const c = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'bob',
      conversation: a.message.conversation_id,
      input: { body: '3' },
    });
    expect(b.message.conversation_id).toBe(a.message.conversation_id);
    expect(c.message.conversation_id).toBe(a.message.conversation_id);
    expect([a.message.seq, b.message.seq, c.message.seq]).toEqual([1, 2, 3]);
    const other = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'carol',
      to: 'bob',
      input: { body: 'x' },
    });
    expect(other.message.conversation_id).not.toBe(a.message.conversation_id);
    expect((await snapshot(s.db, tenant)).conversations).toBe(2);
    // bob has unread 1 (message 1), alice unread 2 (messages 2, 3).
    expect(await inboxOf(s.db, tenant, a.message.conversation_id)).toEqual([
      expect.objectContaining({ user_id: 'alice', unread_count: 2, last_read_seq: 1 }),
      expect.objectContaining({ user_id: 'bob', unread_count: 0, last_read_seq: 3 }),
    ]);
  });

  it('concurrent first sends from both sides create exactly one conversation', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const sends = Array.from({ length: 10 }, (_, i) =>
      execute(deps, tenant, {
        kind: 'DirectMessage',
        sender: i % 2 ? 'alice' : 'bob',
        to: i % 2 ? 'bob' : 'alice',
        input: { body: `m${i}` },
      }),
    );
    const results = await Promise.all(sends);
    expect(new Set(results.map((r) => r.message.conversation_id)).size).toBe(1);
    expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const snap = await snapshot(s.db, tenant);
    expect(snap).toMatchObject({ conversations: 1, members: 2, messages: 10, events: 10, inbox_entries: 2 });
  });

  it('refuses a direct message to oneself, to an unknown user, or by a non-member', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'mallory']);
    await expectCode(
      execute(deps, tenant, { kind: 'DirectMessage', sender: 'alice', to: 'alice', input: { body: 'me' } }),
      'VALIDATION_FAILED',
    );
    await expectCode(
      execute(deps, tenant, { kind: 'DirectMessage', sender: 'alice', to: 'nobody', input: { body: 'x' } }),
      'USER_NOT_FOUND',
    );
    const dm = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'x' },
    });
    const before = await snapshot(s.db, tenant);
    await expectCode(
      execute(deps, tenant, {
        kind: 'DirectMessage',
        sender: 'mallory',
        conversation: dm.message.conversation_id,
        input: { body: 'sneak' },
      }),
      'NOT_A_MEMBER',
    );
    expect(await snapshot(s.db, tenant)).toEqual(before);
  });
});

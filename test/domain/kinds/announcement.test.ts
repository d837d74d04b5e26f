import { describe, expect, it } from 'vitest';
import { execute } from '../../../src/domain/commands.ts';
import { addMembers, createConversation } from '../../../src/domain/conversations.ts';
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

describe.each(backends())('Announcement (%s)', (backend: Backend) => {
  const s = useStore(backend);
  const alice = { type: 'user', user_id: 'alice' } as const;
  const system = { type: 'system' } as const;

  it("an admin's announcement to audience 'tenant' reaches every user of the tenant", async () => {
    const deps = depsOf(s.db);
    const users = ['alice', 'bob', 'carol', 'dave'];
    const tenant = await seedTenant(s.db, users);
    const other = await seedTenant(s.db, ['zed']);
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'announcement',
      title: 'news',
      members: [],
      audience: 'tenant',
    });
    const head = await outboxHead(s.db);
    const { message } = await execute(deps, tenant, {
      kind: 'Announcement',
      actor: alice,
      conversation: id,
      input: { body: 'office closed friday' },
    });
    expect(message).toMatchObject({ kind: 'announcement', seq: 2, sender: alice });
    expect(await messageRow(s.db, tenant, message.id)).toMatchObject({
      kind: 'announcement',
      sender_id: 'alice',
    });
    expect((await eventsOf(s.db, tenant, id)).at(-1)).toMatchObject({ seq: 2, type: 'message.created' });
    expect(await inboxOf(s.db, tenant, id)).toEqual([
      expect.objectContaining({ user_id: 'alice', unread_count: 0, last_read_seq: 2 }),
      expect.objectContaining({ user_id: 'bob', unread_count: 1 }),
      expect.objectContaining({ user_id: 'carol', unread_count: 1 }),
      expect.objectContaining({ user_id: 'dave', unread_count: 1 }),
    ]);
    const out = await outboxOf(s.db, tenant, head);
    expect(out[0]).toMatchObject({
      topic: roomTopic(tenant, id),
      payload: { type: 'event', conversation: id, seq: 2, event: { type: 'message.created', message } },
    });
    expect(
      out
        .slice(1)
        .map((r) => r.topic)
        .sort(),
    ).toEqual(users.map((u) => userTopic(tenant, u)));
    expect(
      out.slice(1).every((r) => r.payload.type === 'inbox' && r.payload.entry.kind === 'announcement'),
    ).toBe(true);
    // Another tenant's users are never reached.
    expect(await outboxOf(s.db, other)).toEqual([]);
  });

  it('the system may post; a member who is not admin and a non-member get NOT_ADMIN', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol']);
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'announcement',
      title: 'staff',
      members: ['bob'],
    });
    const bySystem = await execute(deps, tenant, {
      kind: 'Announcement',
      actor: system,
      conversation: id,
      input: { body: 'maintenance tonight' },
    });
    expect(bySystem.message.sender).toEqual(system);
    expect(await messageRow(s.db, tenant, bySystem.message.id)).toMatchObject({ sender_id: null });
    // Audience 'members': carol is not one and gets nothing.
    expect((await inboxOf(s.db, tenant, id)).map((e) => e.user_id)).toEqual(['alice', 'bob']);

    const before = await snapshot(s.db, tenant);
    for (const user of ['bob', 'carol']) {
      await expectCode(
        execute(deps, tenant, {
          kind: 'Announcement',
          actor: { type: 'user', user_id: user },
          conversation: id,
          input: { body: 'let me post' },
        }),
        'NOT_ADMIN',
      );
    }
    expect(await snapshot(s.db, tenant)).toEqual(before);
  });

  it('a members-audience announcement reaches members added later', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol']);
    const { id } = await createConversation(deps, tenant, system, {
      kind: 'announcement',
      title: null,
      members: ['alice'],
    });
    await addMembers(deps, tenant, system, id, ['carol']);
    const head = await outboxHead(s.db);
    await execute(deps, tenant, {
      kind: 'Announcement',
      actor: system,
      conversation: id,
      input: { body: 'hi' },
    });
    const topics = (await outboxOf(s.db, tenant, head)).map((r) => r.topic).sort();
    expect(topics).toEqual(
      [roomTopic(tenant, id), userTopic(tenant, 'alice'), userTopic(tenant, 'carol')].sort(),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { type Command, execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { editMessage } from '../../src/domain/edits.ts';
import { seedTenant, seedUsers, snapshot } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import { depsOf, expectCode, inboxOf, outboxHead, userNames, useStore } from './support.ts';

describe.each(backends())('idempotent sends (%s)', (backend: Backend) => {
  const s = useStore(backend);

  /** A tenant with one conversation of each kind alice can post to. */
  async function world() {
    const deps = depsOf(s.db, { limits: { largeChannelThreshold: 3 } });
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol', 'dave', 'erin']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const everyone = ['bob', 'carol', 'dave', 'erin'];
    const group = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'g',
      members: ['bob'],
    });
    const small = await createConversation(deps, tenant, alice, {
      kind: 'channel',
      title: 's',
      members: ['bob'],
    });
    const large = await createConversation(deps, tenant, alice, {
      kind: 'channel',
      title: 'l',
      members: everyone,
    });
    const ann = await createConversation(deps, tenant, alice, {
      kind: 'announcement',
      title: 'a',
      members: [],
      audience: 'tenant',
    });
    const commands = (client_id: string, body: string): Command[] => [
      { kind: 'DirectMessage', sender: 'alice', to: 'bob', input: { body, client_id: `${client_id}-dm` } },
      {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: group.id,
        input: { body, client_id: `${client_id}-g` },
      },
      {
        kind: 'ChannelMessage',
        sender: 'alice',
        conversation: small.id,
        input: { body, client_id: `${client_id}-s` },
      },
      {
        kind: 'ChannelMessage',
        sender: 'alice',
        conversation: large.id,
        input: { body, client_id: `${client_id}-l`, mentions: ['carol'] },
      },
      {
        kind: 'Announcement',
        actor: alice,
        conversation: ann.id,
        input: { body, client_id: `${client_id}-a` },
      },
    ];
    return { deps, tenant, commands, group };
  }

  /** Everything a refused or replayed send must leave as it was. */
  async function state(tenant: string) {
    const { rows: versions } = await s.db.query(
      'SELECT user_id, conversation_id, version FROM inbox_entries WHERE tenant_id = $1 ORDER BY 1, 2',
      [tenant],
    );
    return { rows: await snapshot(s.db, tenant), outbox: await outboxHead(s.db), versions };
  }

  it('a repeated (tenant, sender, client_id) returns the original and writes nothing, for every kind', async () => {
    const { deps, tenant, commands } = await world();
    const originals = [];
    for (const cmd of commands('k1', 'first')) originals.push(await execute(deps, tenant, cmd));
    expect(originals.every((r) => 'message' in r && !r.replayed)).toBe(true);

    const before = await state(tenant);
    // The same requests again: the retry must not become a second message.
    const cmds = commands('k1', 'first');
    for (let i = 0; i < cmds.length; i++) {
      const again = await execute(deps, tenant, cmds[i]);
      const original = originals[i];
      if (!('message' in again) || !('message' in original)) throw new Error('not a message kind');
      expect(again.replayed).toBe(true);
      expect(again.message).toEqual(original.message);
    }
    expect(await state(tenant)).toEqual(before);
  });

  it('a client_id reused with another body is IDEMPOTENCY_KEY_REUSED and writes nothing, for every kind', async () => {
    const { deps, tenant, commands } = await world();
    for (const cmd of commands('k2', 'first')) await execute(deps, tenant, cmd);
    const before = await state(tenant);
    for (const cmd of commands('k2', 'second')) {
      await expectCode(execute(deps, tenant, cmd), 'IDEMPOTENCY_KEY_REUSED');
    }
    expect(await state(tenant)).toEqual(before);
  });

  it('a replay must match conversation, reply, mentions and attachments too', async () => {
    const { deps, tenant, group } = await world();
    const alice = { type: 'user', user_id: 'alice' } as const;
    const other = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'o',
      members: ['bob'],
    });
    const att = { name: 'a.png', mime_type: 'image/png', size: 10, url: 'https://x/a.png' };
    const send = (conversation: string, input: Record<string, unknown>) =>
      execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation,
        input: { body: 'hi', client_id: 'r1', ...input },
      });
    const parent = await send(group.id, { client_id: 'parent' });
    const original = await send(group.id, {
      reply_to: parent.message.id,
      mentions: ['bob', 'alice'],
      attachments: [att],
    });
    const before = await state(tenant);
    const same = { reply_to: parent.message.id, mentions: ['bob', 'alice'], attachments: [att] };
    for (const [conversation, input] of [
      [other.id, same],
      [group.id, { mentions: same.mentions, attachments: same.attachments }],
      [group.id, { ...same, mentions: ['bob'] }],
      [group.id, { ...same, attachments: [] }],
      [group.id, { ...same, attachments: [{ ...att, size: 11 }] }],
    ] as const) {
      await expectCode(send(conversation, input), 'IDEMPOTENCY_KEY_REUSED');
    }
    expect(await state(tenant)).toEqual(before);
    // The same request, however it is spelled: mentions are a set, object keys have no order.
    const again = await send(group.id, {
      mentions: ['alice', 'bob', 'bob'],
      attachments: [{ url: att.url, size: att.size, mime_type: att.mime_type, name: att.name }],
      reply_to: parent.message.id,
    });
    expect(again).toEqual({ message: original.message, replayed: true });
    // Absent and empty optional fields are one request.
    await send(group.id, { client_id: 'r2' });
    expect((await send(group.id, { client_id: 'r2', mentions: [], attachments: [] })).replayed).toBe(true);
  });

  it('a direct message by user reusing a key of another conversation creates no conversation', async () => {
    const { deps, tenant } = await world();
    const first = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'hi', client_id: 'd1' },
    });
    const before = await state(tenant);
    await expectCode(
      execute(deps, tenant, {
        kind: 'DirectMessage',
        sender: 'alice',
        to: 'carol',
        input: { body: 'hi', client_id: 'd1' },
      }),
      'IDEMPOTENCY_KEY_REUSED',
    );
    expect(await state(tenant)).toEqual(before);
    const again = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'hi', client_id: 'd1' },
    });
    expect(again).toEqual({ message: first.message, replayed: true });
  });

  it('the key is (tenant, sender, client_id): other senders and other tenants are distinct', async () => {
    const { deps, tenant, group } = await world();
    const a = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: group.id,
      input: { body: 'x', client_id: 'same' },
    });
    const b = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'bob',
      conversation: group.id,
      input: { body: 'x', client_id: 'same' },
    });
    expect(b.replayed).toBe(false);
    expect(b.message.id).not.toBe(a.message.id);
    expect(b.message.seq).toBe(a.message.seq + 1);

    const other = await seedTenant(s.db, ['alice', 'bob']);
    const c = await execute(deps, other, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'x', client_id: 'same' },
    });
    expect(c.replayed).toBe(false);
    expect(c.message.tenant_id).toBe(other);
  });

  it('the retry returns the current state of the original (after an edit) and sends without client_id never dedupe', async () => {
    const { deps, tenant, group } = await world();
    const first = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: group.id,
      input: { body: 'v1', client_id: 'e' },
    });
    await editMessage(deps, tenant, 'alice', group.id, first.message.id, 'v2');
    const retry = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: group.id,
      input: { body: 'v1', client_id: 'e' },
    });
    expect(retry).toMatchObject({
      replayed: true,
      message: { id: first.message.id, body: 'v2', seq: first.message.seq },
    });

    const x = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: group.id,
      input: { body: 'same' },
    });
    const y = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: group.id,
      input: { body: 'same' },
    });
    expect(y.message.id).not.toBe(x.message.id);
    expect((await inboxOf(s.db, tenant, group.id)).find((e) => e.user_id === 'bob')?.unread_count).toBe(3);
  });

  it('replays of a large audience write nothing either', async () => {
    const deps = depsOf(s.db);
    const users = userNames(300);
    const tenant = await seedTenant(s.db, ['boss']);
    await seedUsers(s.db, tenant, users);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'boss' },
      { kind: 'group', title: null, members: users },
    );
    await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'boss',
      conversation: id,
      input: { body: 'hi', client_id: 'big' },
    });
    const before = await snapshot(s.db, tenant);
    const again = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'boss',
      conversation: id,
      input: { body: 'hi', client_id: 'big' },
    });
    expect(again.replayed).toBe(true);
    expect(await snapshot(s.db, tenant)).toEqual(before);
  });
});

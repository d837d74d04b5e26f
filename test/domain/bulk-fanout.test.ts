import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import {
  depsOf,
  inboxOf,
  outboxHead,
  outboxOf,
  roomTopic,
  userNames,
  userTopic,
  useStore,
} from './support.ts';

describe.each(backends())('bulk fan-out (%s)', (backend: Backend) => {
  const s = useStore(backend);

  it('a send is one statement for 10 and 1,000 members, and writes a row per member', async () => {
    const deps = depsOf(s.db);
    const users = userNames(1000);
    const tenant = await seedTenant(s.db, users);
    const system = { type: 'system' } as const;
    const small = await createConversation(deps, tenant, system, {
      kind: 'group',
      title: 's',
      members: users.slice(0, 10),
    });
    const large = await createConversation(deps, tenant, system, {
      kind: 'group',
      title: 'l',
      members: users,
    });

    const send = async (conversation: string) => {
      const statements: string[] = [];
      s.db.onQuery((text) => statements.push(text));
      try {
        await execute(deps, tenant, {
          kind: 'GroupMessage',
          sender: users[0],
          conversation,
          input: { body: 'hello', client_id: `k-${conversation}`, mentions: [users[1]] },
        });
      } finally {
        s.db.onQuery(null);
      }
      return statements;
    };
    const few = await send(small.id);
    const head = await outboxHead(s.db);
    const many = await send(large.id);
    expect(many.length).toBe(few.length);
    // One statement per send (`herald_send`, migration 005), whatever the member count; the
    // group commit runs several sends in that one statement.
    expect(many).toHaveLength(1);
    expect(many[0]).toMatch(/herald_send\(/);

    const inbox = await inboxOf(s.db, tenant, large.id);
    expect(inbox).toHaveLength(1000);
    expect(inbox.filter((e) => e.unread_count === 1)).toHaveLength(999);
    expect(inbox.find((e) => e.user_id === users[1])?.mention_count).toBe(1);
    const out = await outboxOf(s.db, tenant, head);
    expect(out.filter((r) => r.topic === roomTopic(tenant, large.id))).toHaveLength(1);
    const personal = out.filter((r) => r.topic !== roomTopic(tenant, large.id));
    expect(personal).toHaveLength(1000);
    expect(new Set(personal.map((r) => r.topic))).toEqual(new Set(users.map((u) => userTopic(tenant, u))));
  });
});

// Threads in the store (herald_send_reply, migration 016): what one reply writes — the room's
// event, a `thread` frame per participant, no inbox row or frame, no push — who the
// participants are (members only), and that a reply is one statement like any send.
import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import type { MessageInput } from '../../src/domain/compose.ts';
import { createConversation, removeMember } from '../../src/domain/conversations.ts';
import type { QueryOptions, Row } from '../../src/domain/ports.ts';
import type { Db } from '../../src/store/db.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import { depsOf, inboxOf, outboxHead, outboxOf, roomTopic, userTopic, useStore } from './support.ts';

describe.each(backends())('threads in the store (%s)', (backend: Backend) => {
  const s = useStore(backend);
  const alice = { type: 'user', user_id: 'alice' } as const;

  async function group(db: Db = s.db) {
    const deps = depsOf(db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol']);
    const { id } = await createConversation(depsOf(s.db), tenant, alice, {
      kind: 'group',
      title: 'g',
      members: ['bob', 'carol'],
    });
    const send = async (sender: string, input: MessageInput) =>
      (await execute(deps, tenant, { kind: 'GroupMessage', sender, conversation: id, input })).message;
    return { tenant, id, send };
  }

  it('a reply writes the room event and one `thread` frame per participant, and no inbox row', async () => {
    const { tenant, id, send } = await group();
    const root = await send('alice', { body: 'root' });
    const inboxBefore = await inboxOf(s.db, tenant, id);
    const head = await outboxHead(s.db);
    const reply = await send('bob', { body: 'reply', thread_root: root.id });
    const rows = await outboxOf(s.db, tenant, head);
    expect(rows[0].topic).toBe(roomTopic(tenant, id));
    expect(
      rows
        .slice(1)
        .map((r) => r.topic)
        .sort(),
    ).toEqual([userTopic(tenant, 'alice'), userTopic(tenant, 'bob')].sort());
    const frames = rows.slice(1).map((r) => r.payload as { type: string; entry: { unread_count: number } });
    expect(frames.map((f) => [f.type, f.entry.unread_count])).toEqual(
      rows.slice(1).map((r) => ['thread', r.topic === userTopic(tenant, 'alice') ? 1 : 0]),
    );
    expect(await inboxOf(s.db, tenant, id)).toEqual(inboxBefore);
    const { rows: conv } = await s.db.query<{ last_seq: string; last_message: { message_id: string } }>(
      'SELECT last_seq, last_message FROM conversations WHERE tenant_id = $1 AND id = $2',
      [tenant, id],
    );
    expect(Number(conv[0].last_seq)).toBe(reply.seq);
    expect(conv[0].last_message.message_id).toBe(root.id);
  });

  it('participants are members: one who left gets no more thread frames', async () => {
    const { tenant, id, send } = await group();
    const root = await send('alice', { body: 'root' });
    await send('bob', { body: 'one', thread_root: root.id });
    await removeMember(depsOf(s.db), tenant, { type: 'user', user_id: 'bob' }, id, 'bob');
    const head = await outboxHead(s.db);
    await send('carol', { body: 'two', thread_root: root.id });
    const topics = (await outboxOf(s.db, tenant, head)).map((r) => r.topic);
    expect(topics).toContain(userTopic(tenant, 'alice'));
    expect(topics).toContain(userTopic(tenant, 'carol'));
    expect(topics).not.toContain(userTopic(tenant, 'bob'));
  });

  // Migration 018: a reply's pending push names its root, so the dispatcher decides it over the
  // thread's participants (test/push/threads.test.ts), not over the conversation.
  it("a reply's pending push names its thread; its root's names none", async () => {
    const { tenant, id, send } = await group();
    await s.db.query(
      `INSERT INTO push_devices (tenant_id, id, user_id, platform, token) VALUES ($1, 'd1', 'carol', 'fcm', 'tok')`,
      [tenant],
    );
    const root = await send('alice', { body: 'root' });
    const reply = await send('bob', { body: 'reply', thread_root: root.id, mentions: ['carol'] });
    const { rows } = await s.db.query<{ seq: string; thread_root: string | null; mentions: string[] }>(
      'SELECT seq, thread_root, mentions FROM push_pending WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY seq',
      [tenant, id],
    );
    expect(rows.map((r) => [Number(r.seq), r.thread_root, r.mentions])).toEqual([
      [root.seq, null, []],
      [reply.seq, root.id, ['carol']],
    ]);
    expect(reply.thread_root).toBe(root.id);
  });

  it('a reply is one statement, as an ordinary send is', async () => {
    const statements: string[] = [];
    const counting: Db = {
      ...s.db,
      async query<T extends Row>(text: string, params?: unknown[], opts?: QueryOptions) {
        statements.push(text);
        return s.db.query<T>(text, params, opts);
      },
    };
    const { send } = await group(counting);
    const root = await send('alice', { body: 'root' });
    statements.length = 0;
    await send('bob', { body: 'reply', thread_root: root.id });
    const reply = statements.length;
    statements.length = 0;
    await send('bob', { body: 'plain' });
    expect(reply).toBe(statements.length);
    expect(statements.filter((q) => q.includes('herald_send('))).toHaveLength(1);
  });
});

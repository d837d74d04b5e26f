import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import type { HeraldError } from '../../src/protocol/index.ts';
import { seedTenant, snapshot } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import { depsOf, eventsOf, headSeq, outboxOf, roomTopic, userNames, useStore } from './support.ts';

describe.each(backends())('concurrent sends (%s)', (backend: Backend) => {
  const s = useStore(backend);

  it('100 concurrent sends into one conversation get seqs 1..100 after the creation event, gapless', async () => {
    const deps = depsOf(s.db);
    const senders = userNames(5);
    const tenant = await seedTenant(s.db, [...senders, 'reader']);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: senders[0] },
      {
        kind: 'group',
        title: 'busy',
        members: [...senders, 'reader'],
      },
    );
    const base = await headSeq(s.db, tenant, id); // the creation SystemEvent
    expect(base).toBe(1);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        execute(deps, tenant, {
          kind: 'GroupMessage',
          sender: senders[i % senders.length],
          conversation: id,
          input: { body: `m${i}`, client_id: `c${i}` },
        }),
      ),
    );
    const seqs = results.map((r) => r.message.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => base + 1 + i));
    expect(results.every((r) => !r.replayed)).toBe(true);
    expect(await headSeq(s.db, tenant, id)).toBe(base + 100);
    expect((await eventsOf(s.db, tenant, id)).map((e) => e.seq)).toEqual(
      Array.from({ length: base + 100 }, (_, i) => i + 1),
    );
    // The room's outbox rows are in seq order (commit order = id order per conversation).
    const room = (await outboxOf(s.db, tenant)).filter((r) => r.topic === roomTopic(tenant, id));
    expect(room.map((r) => r.payload.seq)).toEqual(Array.from({ length: base + 100 }, (_, i) => i + 1));
    // A member who never sends counts every message exactly once: no lost counter update.
    const { rows } = await s.db.query<{ unread_count: number }>(
      'SELECT unread_count FROM inbox_entries WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3',
      [tenant, id, 'reader'],
    );
    expect(rows[0].unread_count).toBe(100);
  });

  it('concurrent sends with one client_id produce exactly one message', async () => {
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
    const before = await snapshot(s.db, tenant);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        execute(deps, tenant, {
          kind: 'GroupMessage',
          sender: 'alice',
          conversation: id,
          input: { body: 'once', client_id: 'same' },
        }),
      ),
    );
    expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    const after = await snapshot(s.db, tenant);
    expect(after.messages - before.messages).toBe(1);
    expect(after.events - before.events).toBe(1);
    expect(after.seq_sum - before.seq_sum).toBe(1);
  });

  it('one client_id sent concurrently to different conversations yields one message; the others are refused', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const convs = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        createConversation(deps, tenant, alice, { kind: 'group', title: `g${i}`, members: ['bob'] }),
      ),
    );
    const ann = await createConversation(deps, tenant, alice, {
      kind: 'announcement',
      title: 'a',
      members: ['bob'],
    });
    const before = await snapshot(s.db, tenant);
    const results = await Promise.allSettled([
      ...convs.map(({ id }) =>
        execute(deps, tenant, {
          kind: 'GroupMessage',
          sender: 'alice',
          conversation: id,
          input: { body: 'x', client_id: 'k' },
        }),
      ),
      execute(deps, tenant, {
        kind: 'Announcement',
        actor: alice,
        conversation: ann.id,
        input: { body: 'x', client_id: 'k' },
      }),
    ]);
    // The key names one request (its conversation included): a send elsewhere is another one.
    const created = results.filter((r) => r.status === 'fulfilled');
    expect(created).toHaveLength(1);
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(refused.map((e) => (e as HeraldError).code)).toEqual(Array(4).fill('IDEMPOTENCY_KEY_REUSED'));
    const after = await snapshot(s.db, tenant);
    expect(after.messages - before.messages).toBe(1);
    expect(after.seq_sum - before.seq_sum).toBe(1);
  });

  it('concurrent first direct messages with one client_id produce one conversation and one message', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        execute(deps, tenant, {
          kind: 'DirectMessage',
          sender: 'alice',
          to: 'bob',
          input: { body: 'hi', client_id: 'dm-1' },
        }),
      ),
    );
    expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
    expect(await snapshot(s.db, tenant)).toMatchObject({
      conversations: 1,
      messages: 1,
      events: 1,
      seq_sum: 1,
    });
  });
});

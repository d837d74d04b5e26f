import { describe, expect, it } from 'vitest';
import { execute } from '../../../src/domain/commands.ts';
import { createConversation, join, removeMember } from '../../../src/domain/conversations.ts';
import { markRead } from '../../../src/domain/read-marker.ts';
import { inboxEntryJson } from '../../../src/store/pg/sql.ts';
import { seedTenant, snapshot } from '../../support/fixtures.ts';
import { type Backend, backends } from '../../support/stores.ts';
import {
  depsOf,
  eventsOf,
  expectCode,
  type InboxRow,
  inboxOf,
  messageRow,
  outboxHead,
  outboxOf,
  roomTopic,
  userNames,
  userTopic,
  useStore,
} from '../support.ts';

const THRESHOLD = 5;

describe.each(backends())('ChannelMessage (%s)', (backend: Backend) => {
  const s = useStore(backend);
  const limits = { largeChannelThreshold: THRESHOLD };

  /** The wire inbox entry of each member, as the inbox query builds it. */
  async function wireEntries(tenant: string, conversation: string) {
    const { rows } = await s.db.query<{
      user_id: string;
      entry: { unread_count: number; last_read_seq: number };
    }>(
      `SELECT e.user_id, ${inboxEntryJson(THRESHOLD)} AS entry
         FROM inbox_entries e JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
        WHERE e.tenant_id = $1 AND e.conversation_id = $2 ORDER BY e.user_id`,
      [tenant, conversation],
    );
    return rows;
  }

  it('a small channel fans out to every member like a group', async () => {
    const deps = depsOf(s.db, { limits });
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol']);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      {
        kind: 'channel',
        title: 'small',
        members: ['bob', 'carol'],
      },
    );
    const head = await outboxHead(s.db);
    const { message } = await execute(deps, tenant, {
      kind: 'ChannelMessage',
      sender: 'bob',
      conversation: id,
      input: { body: 'hi all' },
    });
    expect(message).toMatchObject({ seq: 2, kind: 'channel' });
    expect(await messageRow(s.db, tenant, message.id)).toMatchObject({ kind: 'channel', seq: 2 });
    expect((await eventsOf(s.db, tenant, id)).at(-1)).toMatchObject({ seq: 2, type: 'message.created' });
    expect(await inboxOf(s.db, tenant, id)).toEqual([
      expect.objectContaining({ user_id: 'alice', unread_count: 1 }),
      expect.objectContaining({ user_id: 'bob', unread_count: 0, last_read_seq: 2 }),
      expect.objectContaining({ user_id: 'carol', unread_count: 1 }),
    ]);
    const out = await outboxOf(s.db, tenant, head);
    expect(out[0]).toMatchObject({ topic: roomTopic(tenant, id), payload: { type: 'event', seq: 2 } });
    expect(
      out
        .slice(1)
        .map((r) => r.topic)
        .sort(),
    ).toEqual(['alice', 'bob', 'carol'].map((u) => userTopic(tenant, u)));
  });

  it('a channel above the threshold writes O(1) rows: only the sender and the mentioned change', async () => {
    const deps = depsOf(s.db, { limits });
    const members = userNames(8, 'm');
    const tenant = await seedTenant(s.db, ['owner', ...members]);
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
    const [sender, mentioned, bystander] = members;
    const before = await inboxOf(s.db, tenant, id);
    const snap = await snapshot(s.db, tenant);
    const head = await outboxHead(s.db);

    const { message } = await execute(deps, tenant, {
      kind: 'ChannelMessage',
      sender,
      conversation: id,
      input: { body: `hey @${mentioned}`, mentions: [mentioned] },
    });
    const seq = message.seq;
    expect(await messageRow(s.db, tenant, message.id)).toMatchObject({ seq, mentions: [mentioned] });
    expect((await eventsOf(s.db, tenant, id)).at(-1)).toMatchObject({ seq, message_id: message.id });

    // Constant writes: one message, one event, three outbox rows (room, sender, mentioned).
    const after = await snapshot(s.db, tenant);
    expect(after).toEqual({
      ...snap,
      messages: snap.messages + 1,
      events: snap.events + 1,
      outbox: snap.outbox + 3,
      seq_sum: snap.seq_sum + 1,
    });
    const out = await outboxOf(s.db, tenant, head);
    expect(out.map((r) => r.topic).sort()).toEqual(
      [roomTopic(tenant, id), userTopic(tenant, sender), userTopic(tenant, mentioned)].sort(),
    );

    // Only the sender's and the mentioned user's entries changed.
    const now = await inboxOf(s.db, tenant, id);
    const changed = now.filter((e, i) => e.version !== before[i].version).map((e) => e.user_id);
    expect(changed.sort()).toEqual([sender, mentioned].sort());
    const byUser = (rows: InboxRow[], u: string) => rows.find((r) => r.user_id === u)!;
    expect(byUser(now, bystander)).toEqual(byUser(before, bystander));
    expect(byUser(now, sender)).toMatchObject({ last_read_seq: seq });
    expect(byUser(now, mentioned)).toMatchObject({ mention_count: 1 });

    // Unread is derived from seqs for everyone: last_seq - last_read_seq.
    const wire = await wireEntries(tenant, id);
    for (const w of wire) {
      const row = byUser(now, w.user_id);
      expect(w.entry.unread_count).toBe(Math.max(seq - row.last_read_seq, 0));
    }
    expect(wire.find((w) => w.user_id === sender)!.entry.unread_count).toBe(0);
    expect(wire.find((w) => w.user_id === bystander)!.entry.unread_count).toBeGreaterThan(0);
    const mentionedFrame = out.find((r) => r.topic === userTopic(tenant, mentioned))!;
    expect(mentionedFrame.payload.entry).toMatchObject({
      unread_count: seq - byUser(now, mentioned).last_read_seq,
      mention_count: 1,
      last_seq: seq,
    });

    // Reading moves the marker: derived unread drops to zero.
    await markRead(deps, tenant, bystander, id, seq);
    expect((await wireEntries(tenant, id)).find((w) => w.user_id === bystander)!.entry.unread_count).toBe(0);
  });

  it('statement and row counts of a large-channel send do not grow with members', async () => {
    const deps = depsOf(s.db, { limits });
    const tenant = await seedTenant(s.db, ['owner', ...userNames(60)]);
    const owner = { type: 'user', user_id: 'owner' } as const;
    // Both above the threshold (5): 7 and 61 members.
    const seven = await createConversation(deps, tenant, owner, {
      kind: 'channel',
      title: 'a',
      members: userNames(6),
    });
    const big = await createConversation(deps, tenant, owner, {
      kind: 'channel',
      title: 'b',
      members: userNames(60),
    });
    const cost = async (conversation: string) => {
      const statements: string[] = [];
      const snap = await snapshot(s.db, tenant);
      s.db.onQuery((t) => statements.push(t));
      try {
        await execute(deps, tenant, {
          kind: 'ChannelMessage',
          sender: 'u0001',
          conversation,
          input: { body: 'x' },
        });
      } finally {
        s.db.onQuery(null);
      }
      const after = await snapshot(s.db, tenant);
      return { statements: statements.length, outbox: after.outbox - snap.outbox };
    };
    expect(await cost(big.id)).toEqual(await cost(seven.id));
    expect(await cost(big.id)).toEqual({ statements: 1, outbox: 2 }); // herald_send; room + sender
  });

  it('a large channel shrinking to the threshold gets true stored counts back', async () => {
    const deps = depsOf(s.db, { limits });
    const members = userNames(6);
    const tenant = await seedTenant(s.db, ['owner', ...members]);
    const owner = { type: 'user', user_id: 'owner' } as const;
    const { id } = await createConversation(deps, tenant, owner, { kind: 'channel', title: 'x', members });
    const post = (body: string, mentions: string[] = []) =>
      execute(deps, tenant, {
        kind: 'ChannelMessage',
        sender: 'owner',
        conversation: id,
        input: { body, mentions },
      });
    await post('one');
    await post('two', [members[0]]);
    // 7 members > 5: nothing per member was counted. Two leave: 5 members, a small channel.
    await removeMember(deps, tenant, owner, id, members[4]);
    await removeMember(deps, tenant, owner, id, members[5]);
    const entries = await inboxOf(s.db, tenant, id);
    const stored = Object.fromEntries(entries.map((e) => [e.user_id, [e.unread_count, e.mention_count]]));
    expect(stored).toEqual({
      owner: [0, 0],
      [members[0]]: [2, 1],
      [members[1]]: [2, 0],
      [members[2]]: [2, 0],
      [members[3]]: [2, 0],
    });
    await post('three');
    expect((await inboxOf(s.db, tenant, id)).find((e) => e.user_id === members[1])?.unread_count).toBe(3);
    // What members see is the stored count again.
    expect((await wireEntries(tenant, id)).find((w) => w.user_id === members[1])?.entry.unread_count).toBe(3);
  });

  it('joining is open to tenant users; only members may post', async () => {
    const deps = depsOf(s.db, { limits });
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      {
        kind: 'channel',
        title: 'open',
        members: [],
      },
    );
    await expectCode(
      execute(deps, tenant, {
        kind: 'ChannelMessage',
        sender: 'bob',
        conversation: id,
        input: { body: 'x' },
      }),
      'NOT_A_MEMBER',
    );
    expect(await join(deps, tenant, 'bob', id)).toEqual({ joined: true });
    const { message } = await execute(deps, tenant, {
      kind: 'ChannelMessage',
      sender: 'bob',
      conversation: id,
      input: { body: 'x' },
    });
    expect(message.seq).toBe(3); // created, joined, message
  });
});

// The kinds' store halves keep the statements the kinds ran before: history's summaries are one
// statement per kind per page (none for a kind the page has nothing of), and an action is the
// conversation lock, the target read, the kind's write, then — only when it changed — the seq,
// the shared summary and the event, and last the caller's summary, all in its one transaction.
import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { runAction, withSummaries } from '../../src/domain/kind-actions.ts';
import type { Message } from '../../src/protocol/index.ts';
import { depsOf, useStore } from '../domain/support.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('kind store statements (%s)', (backend: Backend) => {
  const s = useStore(backend);

  /** The statements `fn` runs, transaction control left out. */
  async function statementsOf(fn: () => Promise<unknown>): Promise<string[]> {
    const seen: string[] = [];
    s.db.onQuery((text) => seen.push(text));
    try {
      await fn();
    } finally {
      s.db.onQuery(null);
    }
    return seen.filter((t) => !/^\s*(BEGIN|COMMIT|ROLLBACK)\b/i.test(t));
  }

  it('summaries: one statement per kind per page; actions: lock, target, write, seq, summary, event, summary', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'g',
      members: ['bob'],
    });
    const sendText = async (body: string) =>
      (
        await execute(deps, tenant, {
          kind: 'GroupMessage',
          sender: 'alice',
          conversation: id,
          input: { body },
        })
      ).message;
    const texts: Message[] = [await sendText('one'), await sendText('two'), await sendText('three')];
    const poll = (
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body: '', poll: { question: 'lunch?', options: ['yes', 'no'] } },
      })
    ).message;
    const act = (messageId: string, kind: string, action: string, args: Record<string, unknown>) =>
      runAction(deps, { tenant, user: 'bob', conversation: id, messageId, kind, action, args });

    const react = await statementsOf(() => act(texts[0].id, 'reactions', 'react', { emoji: '👍' }));
    expect(react).toHaveLength(7);
    expect(react[0]).toMatch(/FOR UPDATE OF c/);
    expect(react[1]).toMatch(/SELECT \* FROM messages/);
    expect(react[2]).toMatch(/INSERT INTO reactions/);
    expect(react[3]).toMatch(/SET last_seq = last_seq \+ 1/);
    expect(react[4]).toMatch(/FROM reactions/);
    expect(react[5]).toMatch(/INSERT INTO events/);
    expect(react[6]).toBe(react[4]);
    // A repeat changes nothing: no seq, no event, only the caller's summary.
    const again = await statementsOf(() => act(texts[0].id, 'reactions', 'react', { emoji: '👍' }));
    expect(again).toEqual([react[0], react[1], react[2], react[4]]);

    const vote = await statementsOf(() => act(poll.id, 'poll', 'vote', { option: 1 }));
    expect(vote).toHaveLength(8);
    expect(vote[2]).toMatch(/FROM poll_closes/);
    expect(vote[3]).toMatch(/INSERT INTO poll_votes/);
    expect(vote[5]).toMatch(/LEFT JOIN poll_votes/);
    expect(vote[7]).toBe(vote[5]);
    await act(texts[1].id, 'reactions', 'react', { emoji: '🎉' });

    const page = [...texts, poll];
    let summed: Message[] = [];
    const both = await statementsOf(async () => {
      summed = await withSummaries(deps, tenant, 'bob', page);
    });
    expect(both).toHaveLength(2);
    expect(both.filter((t) => /FROM reactions/.test(t))).toHaveLength(1);
    expect(both.filter((t) => /LEFT JOIN poll_votes/.test(t))).toHaveLength(1);
    expect(summed[0].reactions).toEqual([{ emoji: '👍', count: 1, me: true }]);
    expect(summed[1].reactions).toEqual([{ emoji: '🎉', count: 1, me: true }]);
    expect(summed[2].reactions).toBeUndefined();
    expect(summed[3].poll).toMatchObject({ voters: 1, closed: false, mine: 1 });

    // A page without a poll costs polls no statement.
    const textsOnly = await statementsOf(() => withSummaries(deps, tenant, 'bob', texts));
    expect(textsOnly).toHaveLength(1);
    expect(textsOnly[0]).toMatch(/FROM reactions/);
  });
});

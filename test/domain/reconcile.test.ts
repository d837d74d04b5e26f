// herald reconcile: counters corrupted behind the domain's back are found exactly, repaired with
// a new version and one `inbox` frame per entry, other tenants are left alone, a second run is a
// no-op, and sends racing the repair still end with counters equal to a recount from the log.
import { describe, expect, it } from 'vitest';
import { type DomainDeps, execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { deleteMessage } from '../../src/domain/edits.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import { type DriftedEntry, reconcile } from '../../src/domain/reconcile.ts';
import { pgReconcile } from '../../src/store/pg/reconcile.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import { depsOf, headSeq, outboxHead, outboxOf, userNames, userTopic, useStore } from './support.ts';

const THRESHOLD = 3;

interface Stored {
  last_read_seq: number;
  unread_count: number;
  mention_count: number;
  version: number;
}

describe.each(backends())('herald reconcile (%s)', (backend: Backend) => {
  const s = useStore(backend);
  const limits = { largeChannelThreshold: THRESHOLD };

  async function entry(tenant: string, user: string, conversation: string): Promise<Stored> {
    const { rows } = await s.db.query<Stored & Record<string, unknown>>(
      `SELECT last_read_seq, unread_count, mention_count, version FROM inbox_entries
        WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3`,
      [tenant, user, conversation],
    );
    expect(rows).toHaveLength(1);
    return { ...rows[0], version: Number(rows[0].version) };
  }

  async function corrupt(
    tenant: string,
    user: string,
    conversation: string,
    set: Partial<Omit<Stored, 'version'>>,
  ): Promise<void> {
    const cols = Object.keys(set);
    await s.db.query(
      `UPDATE inbox_entries SET ${cols.map((c, i) => `${c} = $${i + 4}`).join(', ')}
        WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3`,
      [tenant, user, conversation, ...Object.values(set)],
    );
  }

  const send = (
    deps: DomainDeps,
    tenant: string,
    sender: string,
    conversation: string,
    mentions: string[] = [],
  ) =>
    execute(deps, tenant, {
      kind: 'GroupMessage',
      sender,
      conversation,
      input: { body: `from ${sender}`, mentions },
    });

  /** Tenant A: two groups and a large channel with mentions and reads; tenant B: one group. */
  async function world(deps: DomainDeps) {
    const a = await seedTenant(s.db, ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']);
    const b = await seedTenant(s.db, ['alice', 'bob']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const g1 = (
      await createConversation(deps, a, alice, { kind: 'group', title: 'g1', members: ['bob', 'carol'] })
    ).id;
    const g2 = (
      await createConversation(deps, a, alice, { kind: 'group', title: 'g2', members: ['bob', 'dave'] })
    ).id;
    const ch = (
      await createConversation(deps, a, alice, {
        kind: 'channel',
        title: 'big',
        members: ['bob', 'carol', 'dave', 'erin', 'frank'],
      })
    ).id;
    const gb = (await createConversation(deps, b, alice, { kind: 'group', title: 'gb', members: ['bob'] }))
      .id;
    await send(deps, a, 'alice', g1, ['bob']);
    await send(deps, a, 'carol', g1);
    await markRead(deps, a, 'bob', g1, await headSeq(s.db, a, g1));
    await send(deps, a, 'carol', g1, ['bob']);
    await send(deps, a, 'dave', g2, ['alice']);
    await send(deps, a, 'dave', g2, ['alice', 'bob']);
    await execute(deps, a, {
      kind: 'ChannelMessage',
      sender: 'alice',
      conversation: ch,
      input: { body: 'hey erin', mentions: ['erin'] },
    });
    await send(deps, b, 'alice', gb, ['bob']);
    await send(deps, b, 'alice', gb);
    return { a, b, g1, g2, ch, gb };
  }

  const key = (d: { user_id: string; conversation_id: string }) => `${d.user_id}@${d.conversation_id}`;

  it('reports exactly the corrupted entries, fixes them with a version and a frame each, leaves the other tenant alone, and is a no-op the second time', async () => {
    const deps = { ...depsOf(s.db, { limits }), counters: pgReconcile };
    const w = await world(deps);

    // A consistent store: nothing to report.
    const [clean] = await reconcile(deps, [w.a], { fix: false });
    expect(clean).toMatchObject({ tenant: w.a, drifted: 0, fixed: 0, sample: [] });
    // 3 + 3 + 6 members' entries.
    expect(clean.checked).toBe(12);

    const before = {
      bobG1: await entry(w.a, 'bob', w.g1),
      aliceG1: await entry(w.a, 'alice', w.g1),
      carolG1: await entry(w.a, 'carol', w.g1),
      aliceG2: await entry(w.a, 'alice', w.g2),
      erinCh: await entry(w.a, 'erin', w.ch),
      frankCh: await entry(w.a, 'frank', w.ch),
      bobGb: await entry(w.b, 'bob', w.gb),
    };
    // What the domain wrote is what a recount gives.
    expect(before.bobG1).toMatchObject({ unread_count: 1, mention_count: 1 });
    expect(before.aliceG2).toMatchObject({ unread_count: 2, mention_count: 2 });
    expect(before.erinCh.mention_count).toBe(1);
    expect(before.bobGb).toMatchObject({ unread_count: 2, mention_count: 1 });

    const head1 = await headSeq(s.db, w.a, w.g1);
    await corrupt(w.a, 'bob', w.g1, { unread_count: 7 });
    await corrupt(w.a, 'alice', w.g1, { unread_count: -1 });
    await corrupt(w.a, 'carol', w.g1, { last_read_seq: head1 + 5 });
    await corrupt(w.a, 'alice', w.g2, { mention_count: 0 });
    await corrupt(w.a, 'erin', w.ch, { mention_count: 4 });
    // A large channel's stored unread is never shown (derived from seqs): not drift.
    await corrupt(w.a, 'frank', w.ch, { unread_count: 12345 });
    await corrupt(w.b, 'bob', w.gb, { unread_count: 9 });

    const frankCorrupted = await entry(w.a, 'frank', w.ch);
    const bobGbCorrupted = await entry(w.b, 'bob', w.gb);
    const strip = ({ version: _, ...rest }: Stored) => rest;
    const expected: DriftedEntry[] = [
      {
        user_id: 'alice',
        conversation_id: w.g1,
        stored: { ...strip(before.aliceG1), unread_count: -1 },
        recounted: strip(before.aliceG1),
      },
      {
        user_id: 'alice',
        conversation_id: w.g2,
        stored: { ...strip(before.aliceG2), mention_count: 0 },
        recounted: strip(before.aliceG2),
      },
      {
        user_id: 'bob',
        conversation_id: w.g1,
        stored: { ...strip(before.bobG1), unread_count: 7 },
        recounted: strip(before.bobG1),
      },
      {
        user_id: 'carol',
        conversation_id: w.g1,
        stored: { ...strip(before.carolG1), last_read_seq: head1 + 5 },
        recounted: strip(before.carolG1),
      },
      {
        user_id: 'erin',
        conversation_id: w.ch,
        stored: { ...strip(before.erinCh), mention_count: 4 },
        recounted: strip(before.erinCh),
      },
    ];
    const [found] = await reconcile(deps, [w.a], { fix: false });
    expect(found.checked).toBe(12);
    expect(found.drifted).toBe(expected.length);
    expect([...found.sample].sort((x, y) => key(x).localeCompare(key(y)))).toEqual(
      [...expected].sort((x, y) => key(x).localeCompare(key(y))),
    );
    // Small pages give the same answer as one page.
    const [paged] = await reconcile(deps, [w.a], { fix: false, batchSize: 2, sampleSize: 2 });
    expect(paged).toMatchObject({ checked: 12, drifted: expected.length });
    expect(paged.sample).toHaveLength(2);

    // Fix tenant A only.
    const versionBeforeFix = new Map<string, number>();
    for (const d of expected)
      versionBeforeFix.set(key(d), (await entry(w.a, d.user_id, d.conversation_id)).version);
    const head = await outboxHead(s.db);
    const [fixed] = await reconcile(deps, [w.a], { fix: true, batchSize: 4 });
    expect(fixed).toMatchObject({ checked: 12, drifted: expected.length, fixed: expected.length });
    for (const d of expected) {
      const now = await entry(w.a, d.user_id, d.conversation_id);
      expect(strip(now)).toEqual(d.recounted);
    }
    // Each fixed entry got a new version (inbox sync sees the correction).
    for (const d of expected) {
      const now = await entry(w.a, d.user_id, d.conversation_id);
      expect(now.version).toBeGreaterThan(versionBeforeFix.get(key(d)) ?? Number.POSITIVE_INFINITY);
    }
    // Untouched: frank's large-channel entry keeps its stored value and version.
    expect(strip(await entry(w.a, 'frank', w.ch))).toEqual({ ...strip(before.frankCh), unread_count: 12345 });
    expect((await entry(w.a, 'frank', w.ch)).version).toBe(frankCorrupted.version);

    // One `inbox` frame per fixed entry, on its user's topic, carrying the corrected entry.
    const frames = await outboxOf(s.db, w.a, head);
    expect(frames).toHaveLength(expected.length);
    for (const d of expected) {
      const f = frames.filter(
        (r) => r.topic === userTopic(w.a, d.user_id) && r.payload.entry.conversation_id === d.conversation_id,
      );
      expect(f).toHaveLength(1);
      expect(f[0].payload.type).toBe('inbox');
      const stored = await entry(w.a, d.user_id, d.conversation_id);
      expect(f[0].payload.entry).toMatchObject({
        last_read_seq: d.recounted.last_read_seq,
        mention_count: d.recounted.mention_count,
        version: stored.version,
      });
      if (d.conversation_id !== w.ch) expect(f[0].payload.entry.unread_count).toBe(d.recounted.unread_count);
    }

    // The other tenant is untouched: still drifted, same version, no frame.
    expect(await entry(w.b, 'bob', w.gb)).toEqual(bobGbCorrupted);
    expect(bobGbCorrupted.unread_count).toBe(9);
    expect(await outboxOf(s.db, w.b, head)).toEqual([]);

    // Twice is a no-op: nothing drifted, nothing written.
    const head2 = await outboxHead(s.db);
    const [again] = await reconcile(deps, [w.a], { fix: true });
    expect(again).toMatchObject({ checked: 12, drifted: 0, fixed: 0 });
    expect(await outboxOf(s.db, w.a, head2)).toEqual([]);

    // Every tenant: B's entry is found (A is clean now), then fixed.
    const all = await reconcile(deps, 'all', { fix: false });
    expect(all.find((r) => r.tenant === w.a)?.drifted).toBe(0);
    const ofB = all.find((r) => r.tenant === w.b);
    expect(ofB?.drifted).toBe(1);
    expect(ofB?.sample[0]).toMatchObject({
      user_id: 'bob',
      conversation_id: w.gb,
      stored: { unread_count: 9 },
      recounted: { unread_count: 2 },
    });
    await reconcile(deps, [w.b], { fix: true });
    expect(await entry(w.b, 'bob', w.gb)).toMatchObject({ unread_count: 2, mention_count: 1 });
  });

  it('an unknown tenant is TENANT_NOT_FOUND before anything is read', async () => {
    const deps = { ...depsOf(s.db, { limits }), counters: pgReconcile };
    await expect(reconcile(deps, ['no-such-tenant'], { fix: true })).rejects.toMatchObject({
      code: 'TENANT_NOT_FOUND',
    });
  });

  it('a delete in a large channel takes back its mentions (once found by reconcile as drift)', async () => {
    const deps = { ...depsOf(s.db, { limits }), counters: pgReconcile };
    const t = await seedTenant(s.db, ['alice', 'bob', 'carol', 'dave', 'erin']);
    const { id } = await createConversation(
      deps,
      t,
      { type: 'user', user_id: 'alice' },
      { kind: 'channel', title: 'big', members: ['bob', 'carol', 'dave', 'erin'] },
    );
    const { message } = await execute(deps, t, {
      kind: 'ChannelMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'ping bob', mentions: ['bob'] },
    });
    expect((await entry(t, 'bob', id)).mention_count).toBe(1);
    const versionBefore = (await entry(t, 'bob', id)).version;
    await deleteMessage(deps, t, 'alice', id, message.id);
    // The write path used to skip large channels' entries and leave the badge at 1.
    const bob = await entry(t, 'bob', id);
    expect(bob.mention_count).toBe(0);
    expect(bob.version).toBeGreaterThan(versionBefore);
    const [found] = await reconcile(deps, [t], { fix: false });
    expect(found.drifted).toBe(0);
  });

  it('sends racing a repair end with every counter equal to a recount from the log', async () => {
    const deps = { ...depsOf(s.db, { limits }), counters: pgReconcile };
    const members = userNames(12);
    const reader = members[members.length - 1];
    const senders = members.slice(0, 4);
    const t = await seedTenant(s.db, members);
    const { id } = await createConversation(
      deps,
      t,
      { type: 'user', user_id: members[0] },
      { kind: 'group', title: 'busy', members },
    );
    for (let i = 0; i < 3; i++) await send(deps, t, senders[i % senders.length], id);
    await s.db.query(
      'UPDATE inbox_entries SET unread_count = 500, mention_count = 77 WHERE tenant_id = $1 AND conversation_id = $2',
      [t, id],
    );
    const head = await headSeq(s.db, t, id);
    const sends = 20;
    // Pages of two entries: six repair transactions interleave with the sends.
    const [report] = await Promise.all([
      reconcile(deps, [t], { fix: true, batchSize: 2 }).then((r) => r[0]),
      // Mark-read takes no conversation lock: it races the repair on the entry row itself.
      markRead(deps, t, members[5], id, head),
      ...Array.from({ length: sends }, (_, i) =>
        send(deps, t, senders[i % senders.length], id, [members[4 + (i % 7)]]),
      ),
    ]);
    // The 7 members who neither send nor mark read stay wrong until repaired; a send resets its
    // sender's counters (they read what they send) and a mark-read recounts its reader's, either
    // of which may beat the repair to it.
    expect(report.fixed).toBeGreaterThanOrEqual(7);
    expect(report.fixed).toBeLessThanOrEqual(report.drifted);
    // The reader never sent nor read: every user message is unread, counted exactly once.
    const readerEntry = await entry(t, reader, id);
    expect(readerEntry.unread_count).toBe(3 + sends);
    expect(readerEntry.mention_count).toBe(0);
    expect((await entry(t, members[5], id)).last_read_seq).toBeGreaterThanOrEqual(head);
    const mentioned = await entry(t, members[4], id);
    expect(mentioned.mention_count).toBe(3);
    const [after] = await reconcile(deps, [t], { fix: false });
    expect(after).toMatchObject({ checked: 12, drifted: 0 });
  });
});

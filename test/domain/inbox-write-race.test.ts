// A user's own write to their inbox entry (a read, a flag) racing a send to the same
// conversation. The send holds the entry's row lock until it commits; the user's statement waits
// for it. Before the fix that statement built the entry it returns (and sends to the user's
// devices) from its snapshot taken *before* the wait: the send's message and the conversation's
// new last_seq were not in it, so the entry came back with a new version but the old last_seq,
// and the unread recount missed the message. Found by the SDK chaos test (an inbox entry one
// message behind the server's, for good). PostgreSQL only: PGlite has one connection, so a
// write never waits for another transaction there.
import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { composeContext } from '../../src/domain/compose.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { handleGroupMessage } from '../../src/domain/kinds/group.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import type { InboxEntry } from '../../src/protocol/model.ts';
import type { Db } from '../../src/store/db.ts';
import { seedTenant } from '../support/fixtures.ts';
import { backends } from '../support/stores.ts';
import { depsOf, headSeq, inboxOf, outboxHead, outboxOf, userTopic, useStore, waitFor } from './support.ts';

const onPostgres = backends().includes('postgres');

/** Runs a group message inside a transaction that stays open until `release` is called. */
function heldSend(db: Db, tenant: string, conversation: string) {
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let sent = () => {};
  const written = new Promise<void>((r) => {
    sent = r;
  });
  const deps = depsOf(db);
  const done = db.transaction(async (tx) => {
    await handleGroupMessage(composeContext(deps, tx, tenant), {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation,
      input: { body: 'racing' },
    });
    sent();
    await gate;
  });
  return { written, release, done };
}

/** Resolves once some backend of this database waits for a row lock. */
async function someoneWaitsForALock(db: Db): Promise<void> {
  await waitFor(async () => {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    return rows[0].n > 0;
  }, 'a statement waiting for the send’s row lock');
}

describe.runIf(onPostgres)('an inbox write racing a send (postgres)', () => {
  const s = useStore('postgres');

  async function setUp() {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      { kind: 'group', title: 'race', members: ['bob'] },
    );
    await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'before' },
    });
    return { deps, tenant, id, head: await headSeq(s.db, tenant, id) };
  }

  /** The entry bob's devices were sent last (the newest `inbox` frame to his topic). */
  async function lastFrame(tenant: string, after: number): Promise<InboxEntry> {
    const frames = (await outboxOf(s.db, tenant, after)).filter(
      (r) => r.topic === userTopic(tenant, 'bob') && r.payload.type === 'inbox',
    );
    const newest = frames.sort((a, b) => a.payload.entry.version - b.payload.entry.version).at(-1);
    if (!newest) throw new Error('no inbox frame to bob');
    return newest.payload.entry;
  }

  it('a read waiting for a send returns, stores and sends the entry with the send in it', async () => {
    const { deps, tenant, id, head } = await setUp();
    const mark = await outboxHead(s.db);
    const send = heldSend(s.db, tenant, id);
    await send.written;
    const read = markRead(deps, tenant, 'bob', id, head); // bob read everything he had seen
    await someoneWaitsForALock(s.db);
    send.release();
    await send.done;
    const { entry } = await read;

    expect(await headSeq(s.db, tenant, id)).toBe(head + 1);
    expect(entry.last_seq).toBe(head + 1);
    expect(entry.last_read_seq).toBe(head);
    expect(entry.unread_count).toBe(1); // the racing message is unread
    const stored = (await inboxOf(s.db, tenant, id)).find((r) => r.user_id === 'bob');
    expect(stored?.unread_count).toBe(1);
    const frame = await lastFrame(tenant, mark);
    expect(frame.version).toBe(entry.version);
    expect(frame.last_seq).toBe(head + 1);
  });

  it('a flag change waiting for a send returns and sends the entry with the send in it', async () => {
    const { deps, tenant, id, head } = await setUp();
    const mark = await outboxHead(s.db);
    const send = heldSend(s.db, tenant, id);
    await send.written;
    const flag = s.db.transaction((tx) =>
      deps.projection(tx).setFlags(tenant, 'bob', id, { pinned: true }, deps.limits.largeChannelThreshold),
    );
    await someoneWaitsForALock(s.db);
    send.release();
    await send.done;
    const entry = await flag;

    expect(entry.pinned).toBe(true);
    expect(entry.last_seq).toBe(head + 1);
    expect(entry.unread_count).toBe(2);
    const frame = await lastFrame(tenant, mark);
    expect(frame.version).toBe(entry.version);
    expect(frame.last_seq).toBe(head + 1);
    expect(frame.last_message?.body).toBe('racing');
  });
});

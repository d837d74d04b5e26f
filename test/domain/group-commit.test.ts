// Group commit (send-batcher.ts): concurrent sends share transactions, yet each keeps its own
// seq, replay and refusal, and a send the store rejects fails alone.
import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { composeInTx, type SendRequest, specOf } from '../../src/domain/compose.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { defaultLimits } from '../../src/domain/limits.ts';
import type { QueryOptions, Row, Transactor } from '../../src/domain/ports.ts';
import { SendBatcher } from '../../src/domain/send-batcher.ts';
import { HeraldError } from '../../src/protocol/index.ts';
import { pgWrites } from '../../src/store/pg/index.ts';
import { seedTenant, snapshot } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import { depsOf, eventsOf, headSeq, inboxOf, userNames, useStore } from './support.ts';

describe.each(backends())('group commit (%s)', (backend: Backend) => {
  const s = useStore(backend);

  async function world(groups: number) {
    const deps = depsOf(s.db);
    const users = userNames(4);
    const tenant = await seedTenant(s.db, [...users, 'outsider']);
    const ids: string[] = [];
    for (let i = 0; i < groups; i++) {
      const { id } = await createConversation(
        deps,
        tenant,
        { type: 'user', user_id: users[0] },
        { kind: 'group', title: `g${i}`, members: users.slice(1) },
      );
      ids.push(id);
    }
    const spec = (conversation: string, sender: string, input: SendRequest['input']) =>
      specOf(tenant, { conversation, sender, kind: 'group', input }, { limits: defaultLimits, viewers: [] });
    return { deps, tenant, users, ids, spec };
  }

  it('one statement runs a batch; refusals in it write nothing and the others commit with their own seqs', async () => {
    const { tenant, users, ids, spec } = await world(2);
    const [a, b] = ids;
    await s.db.transaction((tx) =>
      composeInTx(pgWrites(tx).log, [spec(a, users[1], { body: 'seed', client_id: 'seed' })]),
    );
    const before = await snapshot(s.db, tenant);
    const out = await s.db.transaction((tx) =>
      composeInTx(pgWrites(tx).log, [
        spec(a, users[1], { body: 'one', client_id: 'c1' }),
        spec(a, 'outsider', { body: 'not a member' }),
        spec(a, users[1], { body: 'other body', client_id: 'seed' }),
        spec(a, users[2], { body: 'bad mention', mentions: ['outsider'] }),
        spec(a, users[2], { body: 'bad reply', reply_to: 'nope' }),
        spec(b, users[1], { body: 'two', client_id: 'c2' }),
        spec(a, users[1], { body: 'seed', client_id: 'seed' }),
        spec(a, users[3], { body: 'three' }),
        // The same new request twice in one batch: the second replays the first.
        spec(a, users[3], { body: 'four', client_id: 'c4' }),
        spec(a, users[3], { body: 'four', client_id: 'c4' }),
      ]),
    );
    const codes = out.map((o) =>
      o instanceof HeraldError ? o.code : o.replayed ? 'replayed' : o.message.seq,
    );
    expect(codes).toEqual([
      3,
      'NOT_A_MEMBER',
      'IDEMPOTENCY_KEY_REUSED',
      'INVALID_MENTION',
      'INVALID_REPLY',
      2,
      'replayed',
      4,
      5,
      'replayed',
    ]);
    const after = await snapshot(s.db, tenant);
    expect(after.messages - before.messages).toBe(4);
    expect(after.seq_sum - before.seq_sum).toBe(4);
    expect((await eventsOf(s.db, tenant, a)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    // users[0] sent nothing and is counted each message of the batch once, in both rooms.
    expect((await inboxOf(s.db, tenant, a)).find((e) => e.user_id === users[0])?.unread_count).toBe(4);
    expect((await inboxOf(s.db, tenant, b)).find((e) => e.user_id === users[0])?.unread_count).toBe(1);
  });

  it('64 concurrent sends share a few transactions; every conversation stays gapless', async () => {
    const { deps, tenant, users, ids } = await world(8);
    // Each batch is one autocommit statement: count them.
    let batches = 0;
    const db: Transactor = {
      ...s.db,
      query<T extends Row>(text: string, params?: unknown[], opts?: QueryOptions) {
        if (/herald_send\(/.test(text)) batches++;
        return s.db.query<T>(text, params, opts);
      },
      exec: s.db.exec.bind(s.db),
      transaction: s.db.transaction.bind(s.db),
    };
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        execute({ ...deps, db }, tenant, {
          kind: 'GroupMessage',
          sender: users[i % 4],
          conversation: ids[i % 8],
          input: { body: `m${i}`, client_id: `k${i}` },
        }),
      ),
    );
    expect(results.every((r) => !r.replayed)).toBe(true);
    expect(batches).toBeLessThan(64 / 4);
    for (const id of ids) {
      const seqs = results
        .filter((r) => r.message.conversation_id === id)
        .map((r) => r.message.seq)
        .sort((x, y) => x - y);
      expect(seqs).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await headSeq(s.db, tenant, id)).toBe(9);
    }
  });

  it('a send the store rejects fails alone: its batch is rerun one send at a time', async () => {
    const { tenant, users, ids, spec } = await world(1);
    const batcher = new SendBatcher(pgWrites(s.db).log, { maxBatch: 8, maxInFlight: 1 });
    const before = await snapshot(s.db, tenant);
    // The first runs alone; the next three queue behind it and form one batch, which the NUL
    // (text cannot hold it) aborts as a whole.
    const sends = [
      batcher.submit(spec(ids[0], users[1], { body: 'first' })),
      batcher.submit(spec(ids[0], users[1], { body: 'good' })),
      batcher.submit(spec(ids[0], users[2], { body: 'bad \u0000' })),
      batcher.submit(spec(ids[0], users[3], { body: 'also good' })),
    ];
    const settled = await Promise.allSettled(sends);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const after = await snapshot(s.db, tenant);
    expect(after.messages - before.messages).toBe(3);
    expect((await eventsOf(s.db, tenant, ids[0])).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  // The statement commits, then the caller sees an error, as when the connection drops before
  // the reply: the outcome is unknown to the node, whether the driver's error was mapped to
  // STORE_UNAVAILABLE or carries a bare errno code (EPIPE looks like a SQLSTATE, and is not one).
  it.each([
    ['STORE_UNAVAILABLE', () => new HeraldError('STORE_UNAVAILABLE')],
    ['an errno code', () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
  ])('a batch whose reply is lost (%s) is not run again: no send is written twice', async (_name, lost) => {
    const { tenant, users, ids, spec } = await world(1);
    const lossy: Transactor = {
      ...s.db,
      async query<T extends Row>(text: string, params?: unknown[], opts?: QueryOptions) {
        const res = await s.db.query<T>(text, params, opts);
        if (/herald_send\(/.test(text)) throw lost();
        return res;
      },
      exec: s.db.exec.bind(s.db),
      transaction: s.db.transaction.bind(s.db),
    };
    const batcher = new SendBatcher(pgWrites(lossy).log, { maxBatch: 8, maxInFlight: 1 });
    const before = await snapshot(s.db, tenant);
    const settled = await Promise.allSettled([
      batcher.submit(spec(ids[0], users[1], { body: 'alone' })),
      batcher.submit(spec(ids[0], users[1], { body: 'no key 1' })),
      batcher.submit(spec(ids[0], users[2], { body: 'no key 2' })),
    ]);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const after = await snapshot(s.db, tenant);
    expect(after.messages - before.messages).toBe(3);
    expect((await eventsOf(s.db, tenant, ids[0])).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });
});

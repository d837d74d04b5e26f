// The recipient-state writes' split (src/domain/inbox-projection.ts): the store writes and
// reports, the domain decides. A fake projection records what it is asked; no database. Seq
// bounds, the access rule, whether a moved marker tells anyone and what a missing row means
// are the domain's calls.
import { describe, expect, it } from 'vitest';
import type { DomainDeps } from '../../src/domain/context.ts';
import { markDelivered } from '../../src/domain/delivery-marker.ts';
import type { DeliveredRow, InboxProjection, ReadTarget } from '../../src/domain/inbox-projection.ts';
import { defaultLimits } from '../../src/domain/limits.ts';
import { nobodyViewing, type Sql, type Transactor } from '../../src/domain/ports.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import { updateNoticeEntry } from '../../src/domain/recipient-state.ts';
import type { InboxEntry } from '../../src/protocol/index.ts';
import { expectCode } from './support.ts';

const entry = (last_read_seq: number): InboxEntry =>
  ({ conversation_id: 'c1', last_read_seq, version: 3 }) as unknown as InboxEntry;

/** A projection whose answers are given; every call lands in `asked` as [method, ...args]. */
function projection(o: {
  target?: ReadTarget | null;
  moved?: boolean;
  delivered?: Partial<DeliveredRow>;
}): InboxProjection & { asked: unknown[][] } {
  const asked: unknown[][] = [];
  const record =
    (name: string, answer: () => unknown) =>
    async (...args: unknown[]) => {
      asked.push([name, ...args]);
      return answer();
    };
  return {
    asked,
    lockForRead: record('lockForRead', () => o.target ?? null),
    advanceRead: record('advanceRead', () => ({
      entry: entry(5),
      moved: o.moved ?? false,
      delivered_seq: 6,
    })),
    publishRead: record('publishRead', () => undefined),
    recount: record('recount', () => undefined),
    advanceDelivered: record('advanceDelivered', () => ({
      found: true,
      allowed: true,
      last_seq: 9,
      moved: false,
      delivered_before: null,
      read_seq: null,
      ...o.delivered,
    })),
    setFlags: record('setFlags', () => entry(0)),
    setNoticeFlags: record('setNoticeFlags', () => null),
    advanceThreadRead: record('advanceThreadRead', () => null),
    publishThread: record('publishThread', () => undefined),
    forgetReply: record('forgetReply', () => undefined),
  } as InboxProjection & { asked: unknown[][] };
}

function depsWith(p: InboxProjection): DomainDeps {
  const db = { transaction: (fn: (tx: Sql) => unknown) => fn(db as unknown as Sql) } as unknown as Transactor;
  return {
    db,
    reads: () => {
      throw new Error('not read here');
    },
    projection: () => p,
    writes: () => {
      throw new Error('not written here');
    },
    limits: { ...defaultLimits, receiptDetailMax: 4 },
    viewing: nobodyViewing,
  };
}

const target = (role: string | null, kind = 'group', audience = 'members'): ReadTarget => ({
  last_seq: 7,
  kind,
  audience,
  role,
});

describe('the domain decides on what the inbox projection reports', () => {
  it('markRead: a bad seq asks nothing; not found, not a member and past the head write nothing', async () => {
    const p = projection({ target: null });
    await expectCode(markRead(depsWith(p), 't1', 'bob', 'c1', -1), 'VALIDATION_FAILED');
    expect(p.asked).toEqual([]);
    await expectCode(markRead(depsWith(p), 't1', 'bob', 'c1', 1), 'CONVERSATION_NOT_FOUND');
    expect(p.asked).toEqual([['lockForRead', 't1', 'bob', 'c1']]);
    for (const [t, code] of [
      [target(null), 'NOT_A_MEMBER'],
      [target('member'), 'INVALID_SEQ'],
    ] as const) {
      const q = projection({ target: t });
      await expectCode(markRead(depsWith(q), 't1', 'bob', 'c1', 8), code);
      expect(q.asked.map((a) => a[0])).toEqual(['lockForRead']);
    }
  });

  it('markRead: a moved marker sends the receipt and the entry; an unmoved one sends nothing', async () => {
    const still = projection({ target: target('member') });
    expect(await markRead(depsWith(still), 't1', 'bob', 'c1', 5)).toEqual({ entry: entry(5), moved: false });
    expect(still.asked.map((a) => a[0])).toEqual(['lockForRead', 'advanceRead']);
    // A tenant-wide announcement is readable without membership.
    const moved = projection({ target: target(null, 'announcement', 'tenant'), moved: true });
    await markRead(depsWith(moved), 't1', 'bob', 'c1', 5, 'trace-1');
    expect(moved.asked[1]).toEqual([
      'advanceRead',
      't1',
      'bob',
      'c1',
      5,
      defaultLimits.largeChannelThreshold,
    ]);
    expect(moved.asked[2]).toEqual([
      'publishRead',
      't1',
      'bob',
      'c1',
      { type: 'receipt', conversation: 'c1', user_id: 'bob', seq: 5, delivered_seq: 6 },
      entry(5),
      'trace-1',
    ]);
  });

  it('markDelivered: refusals are named from the row; a moved marker is the seq, else the one before', async () => {
    const bad = projection({});
    await expectCode(markDelivered(depsWith(bad), 't1', 'bob', 'c1', 1.5), 'VALIDATION_FAILED');
    expect(bad.asked).toEqual([]);
    for (const [row, code] of [
      [{ found: false, allowed: false }, 'CONVERSATION_NOT_FOUND'],
      [{ allowed: false }, 'NOT_A_MEMBER'],
      [{ last_seq: 2 }, 'INVALID_SEQ'],
    ] as const) {
      await expectCode(markDelivered(depsWith(projection({ delivered: row })), 't1', 'bob', 'c1', 3), code);
    }
    const moved = projection({ delivered: { moved: true, delivered_before: 1, read_seq: 1 } });
    expect(await markDelivered(depsWith(moved), 't1', 'bob', 'c1', 3)).toEqual({
      moved: true,
      delivered_seq: 3,
      read_seq: 1,
    });
    expect(moved.asked).toEqual([['advanceDelivered', 't1', 'bob', 'c1', 3, 4, undefined]]);
    const late = projection({ delivered: { delivered_before: 5, read_seq: 4 } });
    expect(await markDelivered(depsWith(late), 't1', 'bob', 'c1', 3)).toEqual({
      moved: false,
      delivered_seq: 5,
      read_seq: 4,
    });
    expect(await markDelivered(depsWith(projection({})), 't1', 'bob', 'c1', 3)).toEqual({
      moved: false,
      delivered_seq: 0,
      read_seq: 0,
    });
  });

  it('a notice copy the store did not find is NOTICE_NOT_FOUND', async () => {
    const p = projection({});
    await expectCode(updateNoticeEntry(p, 't1', 'bob', 'n1', { read: true }), 'NOTICE_NOT_FOUND');
    expect(p.asked).toEqual([['setNoticeFlags', 't1', 'bob', 'n1', { read: true }, undefined]]);
  });
});

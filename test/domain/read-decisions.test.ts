// The read side's split (src/domain/read-ports.ts): the store returns rows, the domain decides.
// Fake readers hand the domain rows; no database. Whether a reader may see a conversation, a
// seq bound, and whether a receipt detail list is read at all are the domain's calls.
import { describe, expect, it } from 'vitest';
import { readableConversation } from '../../src/domain/access.ts';
import type {
  AccessRow,
  ConversationReader,
  ConversationSeen,
  DeliveryReader,
} from '../../src/domain/read-ports.ts';
import { receiptsOf } from '../../src/domain/receipts.ts';
import { accessOf } from '../../src/gateway/queries.ts';
import type { Conversation } from '../../src/protocol/index.ts';
import { expectCode } from './support.ts';

function seen(
  kind: Conversation['kind'],
  audience: ConversationSeen['audience'],
  role: ConversationSeen['role'],
) {
  const conversation: Conversation = {
    id: 'c1',
    tenant_id: 't1',
    kind,
    title: null,
    last_seq: 7,
    member_count: 3,
    last_message: null,
    created_at: '2026-01-01T00:00:00.000Z',
  };
  return { conversation, audience, role };
}

function reader(row: ConversationSeen | null): ConversationReader & { asked: unknown[][] } {
  const asked: unknown[][] = [];
  const none = () => Promise.reject(new Error('not read here'));
  return {
    asked,
    async seenBy(...args) {
      asked.push(args);
      return row;
    },
    kind: none,
    messages: none,
    events: none,
    members: none,
  };
}

describe('the domain decides on the rows the store reads', () => {
  it('readableConversation: not found, not a member, a member, and anyone for a tenant-wide announcement', async () => {
    const missing = reader(null);
    await expectCode(readableConversation(missing, 't1', 'bob', 'c1'), 'CONVERSATION_NOT_FOUND');
    expect(missing.asked).toEqual([['t1', 'bob', 'c1']]);
    await expectCode(
      readableConversation(reader(seen('group', 'members', null)), 't1', 'bob', 'c1'),
      'NOT_A_MEMBER',
    );
    await expectCode(
      readableConversation(reader(seen('announcement', 'members', null)), 't1', 'bob', 'c1'),
      'NOT_A_MEMBER',
    );
    const member = seen('group', 'members', 'member');
    expect(await readableConversation(reader(member), 't1', 'bob', 'c1')).toEqual(member);
    const wide = seen('announcement', 'tenant', null);
    expect(await readableConversation(reader(wide), 't1', 'bob', 'c1')).toEqual(wide);
  });

  it("the gateway's access: the same rule on the live row, with its head", () => {
    const row = (kind: AccessRow['kind'], audience: string, member: boolean): AccessRow => ({
      kind,
      audience,
      member_count: 4,
      last_seq: 9,
      member,
    });
    expect(accessOf(row('group', 'members', false))).toEqual({
      kind: 'group',
      member_count: 4,
      allowed: false,
      head: 9,
    });
    expect(accessOf(row('group', 'members', true)).allowed).toBe(true);
    expect(accessOf(row('announcement', 'tenant', false)).allowed).toBe(true);
    expect(accessOf(row('channel', 'tenant', false)).allowed).toBe(false);
  });

  it('receipts: a seq past the head reads nothing; over the detail limit only the counts are read', async () => {
    const calls: string[] = [];
    const delivery = {
      async receiptCounts(_t: string, _c: string, tenantWide: boolean, seq: number) {
        calls.push(`counts ${tenantWide} ${seq}`);
        return { recipients: 3, delivered: 2, read: 1 };
      },
      async receipts(_t: string, _c: string, tenantWide: boolean) {
        calls.push(`receipts ${tenantWide}`);
        return [{ user_id: 'alice', seq: 7, delivered_seq: 7 }];
      },
    } as unknown as DeliveryReader;
    await expectCode(receiptsOf(delivery, 't1', seen('group', 'members', 'member'), 10, 8), 'INVALID_SEQ');
    expect(calls).toEqual([]);
    expect(await receiptsOf(delivery, 't1', seen('group', 'members', 'member'), 2)).toEqual({
      detailed: false,
      receipts: [],
      counts: { seq: 7, recipients: 3, delivered: 2, read: 1 },
    });
    expect(calls).toEqual(['counts false 7']);
    const wide = await receiptsOf(delivery, 't1', seen('announcement', 'tenant', null), 3, 5);
    expect(wide.detailed).toBe(true);
    expect(wide.receipts).toEqual([{ user_id: 'alice', seq: 7, delivered_seq: 7 }]);
    expect(calls).toEqual(['counts false 7', 'counts true 5', 'receipts true']);
  });
});

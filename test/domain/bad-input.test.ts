// Every bad input is refused with its catalog code and leaves the store as it was.
import { describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { deleteMessage, editMessage } from '../../src/domain/edits.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import type { Attachment } from '../../src/protocol/index.ts';
import { seedTenant, snapshot } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';
import { depsOf, expectCode, outboxHead, userNames, useStore } from './support.ts';

const attachment: Attachment = { name: 'a.png', mime_type: 'image/png', size: 1, url: 'https://x/a.png' };

describe.each(backends())('bad input (%s)', (backend: Backend) => {
  const s = useStore(backend);

  async function world(limits = {}) {
    const deps = depsOf(s.db, { limits: { largeChannelThreshold: 3, ...limits } });
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol', 'eve', ...userNames(4)]);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const group = (
      await createConversation(deps, tenant, alice, { kind: 'group', title: 'g', members: ['bob'] })
    ).id;
    const other = (
      await createConversation(deps, tenant, alice, { kind: 'group', title: 'o', members: ['bob'] })
    ).id;
    const large = (
      await createConversation(deps, tenant, alice, { kind: 'channel', title: 'l', members: userNames(4) })
    ).id;
    const ann = (
      await createConversation(deps, tenant, alice, { kind: 'announcement', title: 'a', members: ['bob'] })
    ).id;
    const m1 = (
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: group,
        input: { body: 'one' },
      })
    ).message;
    const elsewhere = (
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'bob',
        conversation: other,
        input: { body: 'x' },
      })
    ).message;
    const send = (body: string, extra: object = {}, sender = 'alice', conversation = group) =>
      execute(deps, tenant, { kind: 'GroupMessage', sender, conversation, input: { body, ...extra } });
    return { deps, tenant, group, other, large, ann, m1, elsewhere, send };
  }

  /** Runs each attempt, checks its code, and that nothing at all was written. */
  async function refuses(tenant: string, cases: [string, () => Promise<unknown>][]) {
    const before = await snapshot(s.db, tenant);
    const head = await outboxHead(s.db);
    for (const [code, attempt] of cases) await expectCode(attempt(), code);
    expect(await snapshot(s.db, tenant)).toEqual(before);
    expect(await outboxHead(s.db)).toBe(head);
  }

  it('unknown and cross-tenant conversations are CONVERSATION_NOT_FOUND', async () => {
    const w = await world();
    const stranger = await seedTenant(s.db, ['alice', 'bob']);
    const deps = w.deps;
    await refuses(w.tenant, [
      ['CONVERSATION_NOT_FOUND', () => w.send('x', {}, 'alice', 'no-such-conversation')],
      [
        'CONVERSATION_NOT_FOUND',
        () =>
          execute(deps, w.tenant, {
            kind: 'ChannelMessage',
            sender: 'alice',
            conversation: 'nope',
            input: { body: 'x' },
          }),
      ],
      [
        'CONVERSATION_NOT_FOUND',
        () =>
          execute(deps, w.tenant, {
            kind: 'DirectMessage',
            sender: 'alice',
            conversation: 'nope',
            input: { body: 'x' },
          }),
      ],
      [
        'CONVERSATION_NOT_FOUND',
        () =>
          execute(deps, w.tenant, {
            kind: 'Announcement',
            actor: { type: 'system' },
            conversation: 'nope',
            input: { body: 'x' },
          }),
      ],
      [
        'CONVERSATION_NOT_FOUND',
        () =>
          execute(deps, w.tenant, {
            kind: 'SystemEvent',
            conversation: 'nope',
            data: { event: 'renamed', title: 't', by: null },
          }),
      ],
      // A leaked id from another tenant grants nothing, even to users of the same name.
      [
        'CONVERSATION_NOT_FOUND',
        () =>
          execute(deps, stranger, {
            kind: 'GroupMessage',
            sender: 'alice',
            conversation: w.group,
            input: { body: 'x' },
          }),
      ],
      ['CONVERSATION_NOT_FOUND', () => markRead(deps, stranger, 'alice', w.group, 1)],
      ['CONVERSATION_NOT_FOUND', () => editMessage(deps, stranger, 'alice', w.group, w.m1.id, 'x')],
      ['CONVERSATION_NOT_FOUND', () => deleteMessage(deps, stranger, 'alice', w.group, w.m1.id)],
    ]);
    expect(await snapshot(s.db, stranger)).toMatchObject({ messages: 0, outbox: 0 });
  });

  it('membership and role: NOT_A_MEMBER, NOT_ADMIN', async () => {
    const w = await world();
    await refuses(w.tenant, [
      ['NOT_A_MEMBER', () => w.send('x', {}, 'eve')],
      [
        'NOT_A_MEMBER',
        () =>
          execute(w.deps, w.tenant, {
            kind: 'ChannelMessage',
            sender: 'eve',
            conversation: w.large,
            input: { body: 'x' },
          }),
      ],
      ['NOT_A_MEMBER', () => markRead(w.deps, w.tenant, 'eve', w.group, 1)],
      ['NOT_A_MEMBER', () => editMessage(w.deps, w.tenant, 'eve', w.group, w.m1.id, 'x')],
      [
        'NOT_ADMIN',
        () =>
          execute(w.deps, w.tenant, {
            kind: 'Announcement',
            actor: { type: 'user', user_id: 'bob' },
            conversation: w.ann,
            input: { body: 'x' },
          }),
      ],
      [
        'NOT_ADMIN',
        () =>
          execute(w.deps, w.tenant, {
            kind: 'Announcement',
            actor: { type: 'user', user_id: 'eve' },
            conversation: w.ann,
            input: { body: 'x' },
          }),
      ],
    ]);
  });

  it('body: EMPTY_BODY and BODY_TOO_LARGE at the default 16 KiB cap, counted in UTF-8 bytes', async () => {
    const w = await world();
    await refuses(w.tenant, [
      ['EMPTY_BODY', () => w.send('')],
      ['EMPTY_BODY', () => w.send('  \n\t ')],
      ['BODY_TOO_LARGE', () => w.send('a'.repeat(16 * 1024 + 1))],
      // 8,193 characters but 16,386 bytes.
      ['BODY_TOO_LARGE', () => w.send('é'.repeat(8193))],
      ['EMPTY_BODY', () => editMessage(w.deps, w.tenant, 'alice', w.group, w.m1.id, ' ')],
      [
        'BODY_TOO_LARGE',
        () => editMessage(w.deps, w.tenant, 'alice', w.group, w.m1.id, 'a'.repeat(16 * 1024 + 1)),
      ],
    ]);
    // Exactly at the cap is fine; so is an empty body with an attachment.
    expect((await w.send('a'.repeat(16 * 1024))).message.body).toHaveLength(16 * 1024);
    expect((await w.send('', { attachments: [attachment] })).message.attachments).toEqual([attachment]);
  });

  it('a configured smaller body cap applies', async () => {
    const w = await world({ maxBodyBytes: 10 });
    await refuses(w.tenant, [['BODY_TOO_LARGE', () => w.send('12345678901')]]);
    expect((await w.send('1234567890')).message.seq).toBeGreaterThan(0);
  });

  it('too many mentions or attachments, mentions of non-members, foreign replies', async () => {
    const w = await world({ maxMentions: 2, maxAttachments: 2 });
    await refuses(w.tenant, [
      ['TOO_MANY_MENTIONS', () => w.send('x', { mentions: ['bob', 'alice', 'bob'] })],
      ['TOO_MANY_ATTACHMENTS', () => w.send('x', { attachments: [attachment, attachment, attachment] })],
      ['INVALID_MENTION', () => w.send('x', { mentions: ['carol'] })],
      ['INVALID_MENTION', () => w.send('x', { mentions: ['nobody-at-all'] })],
      // Large channels check mentions against the store rather than a loaded member list.
      [
        'INVALID_MENTION',
        () =>
          execute(w.deps, w.tenant, {
            kind: 'ChannelMessage',
            sender: 'u0000',
            conversation: w.large,
            input: { body: 'x', mentions: ['carol'] },
          }),
      ],
      ['INVALID_REPLY', () => w.send('x', { reply_to: w.elsewhere.id })],
      ['INVALID_REPLY', () => w.send('x', { reply_to: 'no-such-message' })],
    ]);
    const ok = await w.send('re', { reply_to: w.m1.id, mentions: ['bob'] });
    expect(ok.message).toMatchObject({ reply_to: w.m1.id, mentions: ['bob'] });
  });

  it('edits and deletes: NOT_AUTHOR, MESSAGE_DELETED, MESSAGE_NOT_FOUND', async () => {
    const w = await world();
    const gone = (await w.send('to delete')).message;
    await deleteMessage(w.deps, w.tenant, 'alice', w.group, gone.id);
    await refuses(w.tenant, [
      ['NOT_AUTHOR', () => editMessage(w.deps, w.tenant, 'bob', w.group, w.m1.id, 'hijack')],
      ['NOT_AUTHOR', () => deleteMessage(w.deps, w.tenant, 'bob', w.group, w.m1.id)],
      ['MESSAGE_DELETED', () => editMessage(w.deps, w.tenant, 'alice', w.group, gone.id, 'revive')],
      ['MESSAGE_DELETED', () => deleteMessage(w.deps, w.tenant, 'alice', w.group, gone.id)],
      ['MESSAGE_NOT_FOUND', () => editMessage(w.deps, w.tenant, 'alice', w.group, 'nope', 'x')],
      // A message id of another conversation is not found through this one.
      ['MESSAGE_NOT_FOUND', () => editMessage(w.deps, w.tenant, 'bob', w.group, w.elsewhere.id, 'x')],
    ]);
  });

  it('read markers: INVALID_SEQ beyond the head, VALIDATION_FAILED for a negative or fractional seq', async () => {
    const w = await world();
    const { rows } = await s.db.query<{ last_seq: number }>(
      'SELECT last_seq FROM conversations WHERE tenant_id = $1 AND id = $2',
      [w.tenant, w.group],
    );
    await refuses(w.tenant, [
      ['INVALID_SEQ', () => markRead(w.deps, w.tenant, 'bob', w.group, rows[0].last_seq + 1)],
      ['VALIDATION_FAILED', () => markRead(w.deps, w.tenant, 'bob', w.group, -1)],
      ['VALIDATION_FAILED', () => markRead(w.deps, w.tenant, 'bob', w.group, 1.5)],
    ]);
  });
});

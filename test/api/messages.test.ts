// Messages over HTTP: send (per kind), idempotent replay, edit/delete by
// the author only, keyset history, the event log, read markers, receipts,
// caps and the per-user send rate limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import { execute } from '../../src/domain/commands.ts';
import type { ConversationEvent, InboxEntry, Message } from '../../src/protocol/index.ts';
import { countRows, snapshot } from '../support/fixtures.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('messages (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend, env: { HERALD_MAX_MENTIONS: '2', HERALD_MAX_ATTACHMENTS: '1' } });
  });
  afterAll(async () => t?.close());

  async function group(on: TestHerald = t) {
    const { tenant_id } = await on.createTenant();
    const alice = await on.mintUser(tenant_id, 'alice');
    const bob = await on.mintUser(tenant_id, 'bob');
    const res = await on.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: on.bearer(alice),
      payload: { kind: 'group', title: 'g', members: ['bob'] },
    });
    return { tenant_id, alice, bob, id: res.body.conversation.id };
  }
  const send = (who: TokenPair, id: string, payload: object, headers: Record<string, string> = {}, on = t) =>
    on.call<{ message: Message }>({
      method: 'POST',
      url: `/v1/conversations/${id}/messages`,
      headers: { ...on.bearer(who), ...headers },
      payload,
    });

  it('sends a message with mentions, attachments and a reply', async () => {
    const { alice, bob, id } = await group();
    const first = await send(alice, id, { body: 'hello @bob', mentions: ['bob'] });
    expect(first.status).toBe(201);
    expect(first.body.message).toMatchObject({
      conversation_id: id,
      seq: 2, // seq 1 is the "created" system event
      kind: 'group',
      sender: { type: 'user', user_id: 'alice' },
      body: 'hello @bob',
      mentions: ['bob'],
    });
    const att = { name: 'a.png', mime_type: 'image/png', size: 10, url: 'https://x/a.png' };
    const reply = await send(bob, id, { body: 'hi', reply_to: first.body.message.id, attachments: [att] });
    expect(reply.body.message).toMatchObject({ reply_to: first.body.message.id, attachments: [att], seq: 3 });
    const badReply = await send(bob, id, { body: 'x', reply_to: 'nope' });
    expect(badReply.body).toMatchObject({ error: { code: 'INVALID_REPLY' } });
    const badMention = await send(bob, id, { body: 'x', mentions: ['zed'] });
    expect(badMention.body).toMatchObject({ error: { code: 'INVALID_MENTION' } });
    const empty = await send(bob, id, { body: '  ' });
    expect(empty).toMatchObject({ status: 400, body: { error: { code: 'EMPTY_BODY' } } });
  });

  it('applies the configured caps on mentions and attachments', async () => {
    const { alice, id } = await group();
    const mentions = await send(alice, id, { body: 'x', mentions: ['a', 'b', 'c'] });
    expect(mentions).toMatchObject({ status: 400, body: { error: { code: 'TOO_MANY_MENTIONS' } } });
    const att = { name: 'a', mime_type: 'text/plain', size: 1, url: 'https://x/a' };
    const atts = await send(alice, id, { body: 'x', attachments: [att, att] });
    expect(atts).toMatchObject({ status: 400, body: { error: { code: 'TOO_MANY_ATTACHMENTS' } } });
  });

  it('refuses unsafe or oversized attachments, ids and mentions, over HTTP and in the domain alike', async () => {
    const { tenant_id, alice, id } = await group();
    const att = { name: 'a', mime_type: 'text/plain', size: 1, url: 'https://x/a' };
    const bad: object[] = [
      { attachments: [{ ...att, url: 'javascript:alert(1)' }] },
      { attachments: [{ ...att, size: -1 }] },
      { attachments: [{ ...att, size: 1.5 }] },
      { attachments: [{ ...att, name: 'n'.repeat(256) }] },
      { attachments: [{ ...att, url: `https://x/${'a'.repeat(2048)}` }] },
      { mentions: ['bob smith'] },
      { client_id: 'k'.repeat(129) },
    ];
    const before = await snapshot(t.db, tenant_id);
    for (const extra of bad) {
      const res = await send(alice, id, { body: 'x', ...extra });
      expect(res, JSON.stringify(extra)).toMatchObject({
        status: 400,
        body: { error: { code: 'VALIDATION_FAILED' } },
      });
      // The domain enforces the same rules for any caller (the WebSocket `send` included).
      await expect(
        execute(t.herald.deps, tenant_id, {
          kind: 'GroupMessage',
          sender: 'alice',
          conversation: id,
          input: { body: 'x', ...extra },
        }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    expect(await snapshot(t.db, tenant_id)).toEqual(before);
  });

  it('replays an idempotent send: same key, same message, one row', async () => {
    const { tenant_id, alice, id } = await group();
    const before = await countRows(t.db, 'messages', tenant_id);
    const a = await send(alice, id, { body: 'once' }, { 'idempotency-key': 'k-1' });
    const b = await send(alice, id, { body: 'once' }, { 'idempotency-key': 'k-1' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.message).toEqual(a.body.message);
    expect(a.body.message.client_id).toBe('k-1');
    const c = await send(alice, id, { body: 'once', client_id: 'k-1' });
    expect(c.status).toBe(200);
    expect(c.body.message.id).toBe(a.body.message.id);
    expect(await countRows(t.db, 'messages', tenant_id)).toBe(before + 1);
    const clash = await send(alice, id, { body: 'x', client_id: 'k-2' }, { 'idempotency-key': 'k-3' });
    expect(clash).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
  });

  it('an Idempotency-Key reused for a different request is 422 IDEMPOTENCY_KEY_REUSED and writes nothing', async () => {
    const { tenant_id, alice, id } = await group();
    const other = await t.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: t.bearer(alice),
      payload: { kind: 'group', title: 'o', members: ['bob'] },
    });
    const key = { 'idempotency-key': 'pay-1' };
    const first = await send(alice, id, { body: 'pay 10' }, key);
    expect(first.status).toBe(201);
    const before = await snapshot(t.db, tenant_id);
    for (const [conversation, payload] of [
      [id, { body: 'pay 20' }],
      [other.body.conversation.id, { body: 'pay 10' }],
      [id, { body: 'pay 10', mentions: ['bob'] }],
    ] as const) {
      const res = await send(alice, conversation, payload, key);
      expect(res).toMatchObject({ status: 422, body: { error: { code: 'IDEMPOTENCY_KEY_REUSED' } } });
    }
    expect(await snapshot(t.db, tenant_id)).toEqual(before);
    const replay = await send(alice, id, { body: 'pay 10' }, key);
    expect(replay.status).toBe(200);
    expect(replay.body.message).toEqual(first.body.message);
  });

  it('lets only the author edit; author or moderators delete; events never keep a deleted body', async () => {
    const { alice, bob, id } = await group();
    const m = (await send(bob, id, { body: 'original secret' })).body.message;
    const url = `/v1/conversations/${id}/messages/${m.id}`;
    const hijack = await t.call({
      method: 'PATCH',
      url,
      headers: t.bearer(alice),
      payload: { body: 'pwned' },
    });
    expect(hijack).toMatchObject({ status: 403, body: { error: { code: 'NOT_AUTHOR' } } });
    const edit = await t.call<{ message: Message }>({
      method: 'PATCH',
      url,
      headers: t.bearer(bob),
      payload: { body: 'edited' },
    });
    expect(edit.status).toBe(200);
    expect(edit.body.message).toMatchObject({ id: m.id, body: 'edited', edited_at: expect.any(String) });

    const mine = (await send(alice, id, { body: 'by alice' })).body.message;
    const bobDeletes = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${id}/messages/${mine.id}`,
      headers: t.bearer(bob),
    });
    expect(bobDeletes).toMatchObject({ status: 403, body: { error: { code: 'NOT_AUTHOR' } } });
    const del = await t.call<{ message: Message }>({ method: 'DELETE', url, headers: t.bearer(bob) });
    expect(del.status).toBe(200);
    expect(del.body.message).toMatchObject({ id: m.id, body: '', deleted_at: expect.any(String) });
    const again = await t.call({ method: 'DELETE', url, headers: t.bearer(bob) });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'MESSAGE_DELETED' } } });
    const missing = await t.call({
      method: 'PATCH',
      url: `/v1/conversations/${id}/messages/nope`,
      headers: t.bearer(bob),
      payload: { body: 'x' },
    });
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'MESSAGE_NOT_FOUND' } } });

    const events = await t.call<{ events: { seq: number; event: ConversationEvent }[] }>({
      method: 'GET',
      url: `/v1/conversations/${id}/events`,
      headers: t.bearer(alice),
    });
    expect(JSON.stringify(events.body)).not.toContain('original secret');
    expect(events.body.events.map((e) => e.event.type)).toEqual([
      'message.created',
      'message.created',
      'message.edited',
      'message.created',
      'message.deleted',
    ]);
  });

  it('pages history by seq and the event log after a seq', async () => {
    const { alice, id } = await group();
    for (let i = 1; i <= 7; i++) await send(alice, id, { body: `m${i}` }); // seqs 2..8
    const hist = (q: string) =>
      t.call<{ messages: Message[]; has_more: boolean }>({
        method: 'GET',
        url: `/v1/conversations/${id}/messages?${q}`,
        headers: t.bearer(alice),
      });
    const newest = await hist('limit=3');
    expect(newest.body.messages.map((m) => m.seq)).toEqual([6, 7, 8]);
    expect(newest.body.has_more).toBe(true);
    const older = await hist('limit=3&before_seq=6');
    expect(older.body.messages.map((m) => m.seq)).toEqual([3, 4, 5]);
    const oldest = await hist('limit=3&before_seq=3');
    expect(oldest.body).toMatchObject({ has_more: false });
    expect(oldest.body.messages.map((m) => m.seq)).toEqual([1, 2]);
    const after = await hist('after_seq=5&limit=2');
    expect(after.body.messages.map((m) => m.seq)).toEqual([6, 7]);
    expect(after.body.has_more).toBe(true);
    const window = await hist('after_seq=2&before_seq=5');
    expect(window.body.messages.map((m) => m.seq)).toEqual([3, 4]);

    const ev = await t.call<{
      conversation: string;
      events: { seq: number }[];
      head_seq: number;
      has_more: boolean;
    }>({
      method: 'GET',
      url: `/v1/conversations/${id}/events?after_seq=4&limit=3`,
      headers: t.bearer(alice),
    });
    expect(ev.body).toMatchObject({ conversation: id, head_seq: 8, has_more: true });
    expect(ev.body.events.map((e) => e.seq)).toEqual([5, 6, 7]);
  });

  it('marks read and lists receipts', async () => {
    const { alice, bob, id } = await group();
    const m = (await send(alice, id, { body: 'read me' })).body.message;
    const read = await t.call<{ entry: InboxEntry }>({
      method: 'POST',
      url: `/v1/conversations/${id}/read`,
      headers: t.bearer(bob),
      payload: { seq: m.seq },
    });
    expect(read.status).toBe(200);
    expect(read.body.entry).toMatchObject({ conversation_id: id, last_read_seq: m.seq, unread_count: 0 });
    const beyond = await t.call({
      method: 'POST',
      url: `/v1/conversations/${id}/read`,
      headers: t.bearer(bob),
      payload: { seq: 99 },
    });
    expect(beyond).toMatchObject({ status: 400, body: { error: { code: 'INVALID_SEQ' } } });
    const receipts = await t.call({
      method: 'GET',
      url: `/v1/conversations/${id}/receipts`,
      headers: t.bearer(alice),
    });
    expect(receipts.body).toMatchObject({
      detailed: true,
      receipts: [
        { user_id: 'alice', seq: m.seq, delivered_seq: m.seq },
        { user_id: 'bob', seq: m.seq, delivered_seq: m.seq },
      ],
    });
  });

  it('rate-limits sends per user: 429 with Retry-After and nothing written', async () => {
    const limited = await startTestHerald({
      db: t.db,
      env: { HERALD_SEND_RATE_MAX: '2', HERALD_SEND_RATE_WINDOW_SEC: '3600' },
    });
    try {
      const { tenant_id, alice, bob, id } = await group(limited);
      expect((await send(alice, id, { body: '1' }, {}, limited)).status).toBe(201);
      expect((await send(alice, id, { body: '2' }, {}, limited)).status).toBe(201);
      const before = await snapshot(t.db, tenant_id);
      const res = await send(alice, id, { body: '3' }, {}, limited);
      expect(res).toMatchObject({ status: 429, body: { error: { code: 'RATE_LIMITED' } } });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(await snapshot(t.db, tenant_id)).toEqual(before);
      // Per user: bob still sends.
      expect((await send(bob, id, { body: 'b' }, {}, limited)).status).toBe(201);
    } finally {
      await limited.close();
    }
  });
});

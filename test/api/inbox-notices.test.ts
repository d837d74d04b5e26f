// The inbox (conversation list + sync, one statement whatever the count)
// and system notices over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { InboxEntry, Notice } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

type InboxPage = { entries: InboxEntry[]; next_since: number; has_more: boolean };
type NoticePage = { notices: Notice[]; next_since: number; has_more: boolean };

describe.each(backends())('inbox and notices (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend });
  });
  afterAll(async () => t?.close());

  const inbox = (who: TokenPair, q = '') =>
    t.call<InboxPage>({ method: 'GET', url: `/v1/inbox${q}`, headers: t.bearer(who) });
  const create = async (who: TokenPair, title: string, members: string[]) =>
    (
      await t.call<{ conversation: { id: string } }>({
        method: 'POST',
        url: '/v1/conversations',
        headers: t.bearer(who),
        payload: { kind: 'group', title, members },
      })
    ).body.conversation.id;
  const send = (who: TokenPair, id: string, payload: object) =>
    t.call({ method: 'POST', url: `/v1/conversations/${id}/messages`, headers: t.bearer(who), payload });

  it('lists conversations with preview and counts, pinned first then by activity', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const one = await create(alice, 'one', ['bob']);
    const two = await create(alice, 'two', ['bob']);
    await send(alice, one, { body: 'hi @bob', mentions: ['bob'] });
    await send(alice, two, { body: 'newer' });
    let list = await inbox(bob);
    expect(list.status).toBe(200);
    expect(list.body.entries.map((e) => e.title)).toEqual(['two', 'one']);
    expect(list.body.entries[1]).toMatchObject({
      conversation_id: one,
      kind: 'group',
      unread_count: 1,
      mention_count: 1,
      last_message: { body: 'hi @bob', sender: { type: 'user', user_id: 'alice' } },
    });
    const pin = await t.call<{ entry: InboxEntry }>({
      method: 'PATCH',
      url: `/v1/inbox/${one}`,
      headers: t.bearer(bob),
      payload: { pinned: true },
    });
    expect(pin.status).toBe(200);
    expect(pin.body.entry).toMatchObject({ conversation_id: one, pinned: true });
    list = await inbox(bob);
    expect(list.body.entries.map((e) => e.title)).toEqual(['one', 'two']);
    // The HTTP entry and the outbox frame share one shape.
    const { rows } = await t.db.query<{ payload: { type: string; entry: InboxEntry } }>(
      `SELECT payload FROM outbox WHERE tenant_id = $1 AND topic = $2 AND payload->>'type' = 'inbox'
        ORDER BY id DESC LIMIT 1`,
      [tenant_id, `t:${tenant_id}:u:bob`],
    );
    expect(rows[0].payload.entry).toEqual(pin.body.entry);
    expect(Object.keys(list.body.entries[0]).sort()).toEqual(Object.keys(rows[0].payload.entry).sort());
  });

  it('syncs changes since a version cursor, paging by version', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const ids = [
      await create(alice, 'a', ['bob']),
      await create(alice, 'b', ['bob']),
      await create(alice, 'c', ['bob']),
    ];
    const full = await inbox(bob);
    expect(full.body.entries).toHaveLength(3);
    const cursor = full.body.next_since;
    expect((await inbox(bob, `?since=${cursor}`)).body).toEqual({
      entries: [],
      next_since: cursor,
      has_more: false,
    });

    await send(alice, ids[2], { body: 'x' });
    await send(alice, ids[0], { body: 'y' });
    const page1 = await inbox(bob, `?since=${cursor}&limit=1`);
    expect(page1.body.entries.map((e) => e.conversation_id)).toEqual([ids[2]]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await inbox(bob, `?since=${page1.body.next_since}&limit=1`);
    expect(page2.body.entries.map((e) => e.conversation_id)).toEqual([ids[0]]);
    expect(page2.body.has_more).toBe(false);
    expect((await inbox(bob, `?since=${page2.body.next_since}`)).body.entries).toEqual([]);
  });

  it('refuses inbox changes to conversations the user cannot see', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const eve = await t.mintUser(tenant_id, 'eve');
    const id = await create(alice, 'private', []);
    const res = await t.call({
      method: 'PATCH',
      url: `/v1/inbox/${id}`,
      headers: t.bearer(eve),
      payload: { muted: true },
    });
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'NOT_A_MEMBER' } } });
  });

  it('lists 200 conversations with the same number of statements as 2 (no N+1)', async () => {
    const { tenant_id } = await t.createTenant();
    const few = await t.mintUser(tenant_id, 'few');
    const many = await t.mintUser(tenant_id, 'many');
    await t.db.query(
      `WITH c AS (
         INSERT INTO conversations (tenant_id, id, kind, title, member_count, last_seq, last_message, last_message_at)
         SELECT $1, 'c' || i, 'group', 'conv ' || i, 1, 1,
                jsonb_build_object('message_id', 'm' || i, 'seq', 1, 'body', 'hello ' || i,
                                   'sender', jsonb_build_object('type', 'system'), 'kind', 'group',
                                   'created_at', now()),
                now() - i * interval '1 minute'
           FROM generate_series(1, 202) AS i RETURNING id, last_message_at),
       m AS (
         INSERT INTO members (tenant_id, conversation_id, user_id)
         SELECT $1, id, CASE WHEN id IN ('c1', 'c2') THEN 'few' ELSE 'many' END FROM c)
       INSERT INTO inbox_entries (tenant_id, user_id, conversation_id, unread_count, last_activity_at)
       SELECT $1, CASE WHEN id IN ('c1', 'c2') THEN 'few' ELSE 'many' END, id, 1, last_message_at FROM c`,
      [tenant_id],
    );
    const statements = async (who: TokenPair) => {
      await t.herald.relay.stop(); // the relay polls the same store: keep it out of the count
      const seen: string[] = [];
      t.db.onQuery((text) => seen.push(text));
      try {
        const res = await inbox(who, '?limit=200');
        return { seen, entries: res.body.entries };
      } finally {
        t.db.onQuery(null);
        await t.herald.relay.start();
      }
    };
    const small = await statements(few);
    const large = await statements(many);
    expect(small.entries).toHaveLength(2);
    expect(large.entries).toHaveLength(200);
    expect(large.entries[0]).toMatchObject({
      title: 'conv 3',
      unread_count: 1,
      last_message: { body: 'hello 3' },
    });
    expect(large.seen.length).toBe(small.seen.length);
    expect(large.seen.length).toBe(1);
  });

  it('sends notices from the tenant backend; users list and flag their own copies', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const post = (payload: object, token = api_key) =>
      t.call<{ notice_id: string; recipients: number }>({
        method: 'POST',
        url: '/v1/notices',
        headers: t.bearer(token),
        payload,
      });
    const asUser = await post({ to: ['bob'], title: 't', body: 'b' }, alice.access_token);
    expect(asUser.status).toBe(401);
    const ghost = await post({ to: ['ghost'], title: 't', body: 'b' });
    expect(ghost).toMatchObject({ status: 404, body: { error: { code: 'USER_NOT_FOUND' } } });

    const one = await post({
      to: ['bob'],
      title: 'Invoice',
      body: 'Your invoice is ready',
      data: { invoice: 42 },
    });
    expect(one.status).toBe(201);
    expect(one.body).toEqual({ notice_id: expect.any(String), recipients: 1 });
    const all = await post({ to: 'tenant', title: 'Maintenance', body: 'Tonight' });
    expect(all.body.recipients).toBe(2);

    const list = await t.call<NoticePage>({ method: 'GET', url: '/v1/notices', headers: t.bearer(bob) });
    expect(list.status).toBe(200);
    expect(list.body.notices.map((n) => n.title)).toEqual(['Maintenance', 'Invoice']);
    expect(list.body.notices[1]).toMatchObject({ data: { invoice: 42 }, read: false, archived: false });
    const aliceList = await t.call<NoticePage>({
      method: 'GET',
      url: '/v1/notices',
      headers: t.bearer(alice),
    });
    expect(aliceList.body.notices.map((n) => n.title)).toEqual(['Maintenance']);

    const url = `/v1/notices/${one.body.notice_id}`;
    const notMine = await t.call({ method: 'PATCH', url, headers: t.bearer(alice), payload: { read: true } });
    expect(notMine).toMatchObject({ status: 404, body: { error: { code: 'NOTICE_NOT_FOUND' } } });
    const read = await t.call<{ notice: Notice }>({
      method: 'PATCH',
      url,
      headers: t.bearer(bob),
      payload: { read: true, escalated: true },
    });
    expect(read.status).toBe(200);
    expect(read.body.notice).toMatchObject({
      id: one.body.notice_id,
      read: true,
      escalated: true,
      dismissed: false,
    });
    const { rows } = await t.db.query<{ payload: { notice: Notice } }>(
      `SELECT payload FROM outbox WHERE tenant_id = $1 AND topic = $2 AND payload->>'type' = 'notice'
        ORDER BY id DESC LIMIT 1`,
      [tenant_id, `t:${tenant_id}:u:bob`],
    );
    expect(rows[0].payload.notice).toEqual(read.body.notice);

    const changed = await t.call<NoticePage>({
      method: 'GET',
      url: `/v1/notices?since=${list.body.next_since}`,
      headers: t.bearer(bob),
    });
    expect(changed.body.notices.map((n) => n.id)).toEqual([one.body.notice_id]);
    expect(changed.body.next_since).toBe(read.body.notice.version);
  });
});

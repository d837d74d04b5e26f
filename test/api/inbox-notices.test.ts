// The inbox (conversation list + sync, one statement whatever the count)
// and system notices over HTTP.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { InboxEntry, Notice } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

type InboxPage = { entries: InboxEntry[]; next_since: number; has_more: boolean };
type NoticePage = { notices: Notice[]; next_since: number; has_more: boolean };

describe.each(backends())('inbox and notices (%s)', (backend: Backend) => {
  // Two concurrent connections: only a PostgreSQL server has them (PGlite is one connection).
  const onPostgres = backend === 'postgres' ? it : () => {};

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

  it('syncs changes since a cursor, paging in order of commit', async () => {
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

  /** Pages `since` until has_more is false; returns every entry and the final cursor. */
  const syncAll = async (who: TokenPair, since: number, limit = 50) => {
    const entries: InboxEntry[] = [];
    let cursor = since;
    for (;;) {
      const page = await inbox(who, `?since=${cursor}&limit=${limit}`);
      expect(page.status).toBe(200);
      entries.push(...page.body.entries);
      cursor = page.body.next_since;
      if (!page.body.has_more) return { entries, cursor };
    }
  };

  it('reports leaving and removal to inbox sync and live, and a rejoin clears it', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const carol = await t.mintUser(tenant_id, 'carol');
    const id = await create(alice, 'team', ['bob', 'carol']);
    await send(alice, id, { body: 'before' });
    const bobStart = (await syncAll(bob, 0)).cursor;
    const carolStart = (await syncAll(carol, 0)).cursor;

    const kicked = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${id}/members/bob`,
      headers: t.bearer(alice),
    });
    expect(kicked.status).toBe(200);
    const left = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${id}/members/carol`,
      headers: t.bearer(carol),
    });
    expect(left.status).toBe(200);
    await send(alice, id, { body: 'after they left' });

    for (const [who, name, start] of [
      [bob, 'bob', bobStart],
      [carol, 'carol', carolStart],
    ] as const) {
      // Live: an `inbox` frame with removed: true on the personal topic, in the same transaction.
      const { rows } = await t.db.query<{ payload: { type: string; entry: InboxEntry } }>(
        `SELECT payload FROM outbox WHERE tenant_id = $1 AND topic = $2 ORDER BY id DESC LIMIT 1`,
        [tenant_id, `t:${tenant_id}:u:${name}`],
      );
      expect(rows[0].payload).toMatchObject({
        type: 'inbox',
        entry: { conversation_id: id, removed: true, last_message: null, unread_count: 0 },
      });
      // Sync: the same entry, with a newer version than anything the user had.
      const synced = await syncAll(who, start);
      expect(synced.entries).toEqual([rows[0].payload.entry]);
      // The plain list no longer shows it, and nothing said after leaving leaks.
      expect((await inbox(who)).body.entries).toEqual([]);
      expect(JSON.stringify(synced.entries)).not.toContain('after they left');
    }

    // Rejoin: the tombstone goes, the entry comes back with a newer version.
    const bobLeft = (await syncAll(bob, bobStart)).entries[0];
    const back = await t.call({
      method: 'POST',
      url: `/v1/conversations/${id}/members`,
      headers: t.bearer(alice),
      payload: { user_ids: ['bob'] },
    });
    expect(back.status).toBe(200);
    const { rows } = await t.db.query(
      'SELECT 1 FROM inbox_tombstones WHERE tenant_id = $1 AND user_id = $2',
      [tenant_id, 'bob'],
    );
    expect(rows).toEqual([]);
    const resynced = await syncAll(bob, bobStart);
    expect(resynced.entries).toHaveLength(1);
    expect(resynced.entries[0].removed).toBeUndefined();
    expect(resynced.entries[0].version).toBeGreaterThan(bobLeft.version);
    expect((await inbox(bob)).body.entries.map((e) => e.conversation_id)).toEqual([id]);
  });

  it("never splits one transaction's changes across sync pages", async () => {
    const { tenant_id } = await t.createTenant();
    const bob = await t.mintUser(tenant_id, 'bob');
    const before = (await syncAll(bob, 0)).cursor;
    // One transaction touching three of bob's entries, then another touching one.
    await t.db.query(
      `WITH c AS (
         INSERT INTO conversations (tenant_id, id, kind, title, member_count)
         SELECT $1, 'bulk' || i, 'group', 'bulk ' || i, 1 FROM generate_series(1, 3) AS i RETURNING id),
       m AS (INSERT INTO members (tenant_id, conversation_id, user_id) SELECT $1, id, 'bob' FROM c)
       INSERT INTO inbox_entries (tenant_id, user_id, conversation_id) SELECT $1, 'bob', id FROM c`,
      [tenant_id],
    );
    const later = await create(bob, 'later', []);
    const p1 = await inbox(bob, `?since=${before}&limit=2`);
    expect(p1.body.entries.map((e) => e.title).sort()).toEqual(['bulk 1', 'bulk 2', 'bulk 3']);
    expect(p1.body.has_more).toBe(true);
    const p2 = await inbox(bob, `?since=${p1.body.next_since}&limit=2`);
    expect(p2.body.entries.map((e) => e.conversation_id)).toEqual([later]);
    expect(p2.body.has_more).toBe(false);
  });

  onPostgres('does not move the sync cursor past a transaction still in flight', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await t.mintUser(tenant_id, 'alice');
    const bob = await t.mintUser(tenant_id, 'bob');
    const one = await create(alice, 'one', ['bob']);
    const two = await create(alice, 'two', ['bob']);
    const three = await create(alice, 'three', ['bob']);
    const url = t.herald.config.databaseUrl as string;
    const held = new pg.Client({ connectionString: url });
    const other = new pg.Client({ connectionString: url });
    await held.connect();
    await other.connect();
    // The relay's own short transactions would only hold the horizon back: keep it out.
    await t.herald.relay.stop();
    try {
      const start = (await syncAll(bob, 0)).cursor;
      const version = async (c: pg.Client, conv: string, set: string) =>
        Number(
          (
            await c.query(
              `UPDATE inbox_entries SET ${set} WHERE tenant_id = $1 AND user_id = 'bob' AND conversation_id = $2
                 RETURNING version`,
              [tenant_id, conv],
            )
          ).rows[0].version,
        );

      // 1. `held` bumps version N (no explicit version: the trigger gives one) and stays open;
      //    another transaction commits N+1.
      await held.query('BEGIN');
      const n = await version(held, one, 'pinned = true');
      const pinned = await t.call<{ entry: InboxEntry }>({
        method: 'PATCH',
        url: `/v1/inbox/${two}`,
        headers: t.bearer(bob),
        payload: { muted: true },
      });
      expect(pinned.body.entry.version).toBeGreaterThan(n);
      const during = await syncAll(bob, start);
      // Nothing at or past N is handed out, so the cursor cannot pass N.
      expect(during.entries.filter((e) => e.version >= n)).toEqual([]);
      await held.query('COMMIT');
      const after = await syncAll(bob, during.cursor);
      expect(after.entries.map((e) => e.conversation_id).sort()).toEqual([one, two].sort());
      expect(after.entries.find((e) => e.conversation_id === one)?.pinned).toBe(true);

      // 2. An older transaction (xid assigned first) takes the *newer* version and commits
      //    while a younger one holding the older version is still open: the younger one's
      //    row must still reach the next sync (filtering by xid alone with a version cursor
      //    would hand out the newer version as the cursor and lose it).
      await held.query('BEGIN');
      await held.query('SELECT pg_current_xact_id()');
      await other.query('BEGIN');
      const older = await version(other, three, 'archived = true');
      const newer = await version(held, one, 'pinned = false');
      expect(newer).toBeGreaterThan(older);
      await held.query('COMMIT');
      const mid = await syncAll(bob, after.cursor);
      expect(mid.entries.map((e) => e.conversation_id)).not.toContain(three);
      await other.query('COMMIT');
      const last = await syncAll(bob, mid.cursor);
      expect(last.entries.find((e) => e.conversation_id === three)).toMatchObject({ archived: true });
      const seen = [...mid.entries, ...last.entries].map((e) => e.conversation_id);
      expect(seen).toContain(one);
    } finally {
      await held.query('ROLLBACK').catch(() => undefined);
      await other.query('ROLLBACK').catch(() => undefined);
      await held.end();
      await other.end();
      await t.herald.relay.start();
    }
  });

  onPostgres('holds the notice cursor behind an open transaction too', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const bob = await t.mintUser(tenant_id, 'bob');
    const post = (title: string) =>
      t.call<{ notice_id: string }>({
        method: 'POST',
        url: '/v1/notices',
        headers: t.bearer(api_key),
        payload: { to: ['bob'], title, body: 'b' },
      });
    const first = (await post('first')).body.notice_id;
    const notices = (since: number) =>
      t.call<NoticePage>({ method: 'GET', url: `/v1/notices?since=${since}`, headers: t.bearer(bob) });
    const start = (await notices(0)).body.next_since;
    const held = new pg.Client({ connectionString: t.herald.config.databaseUrl as string });
    await held.connect();
    await t.herald.relay.stop();
    try {
      await held.query('BEGIN');
      await held.query(
        `UPDATE notice_entries SET read = true WHERE tenant_id = $1 AND user_id = 'bob' AND notice_id = $2`,
        [tenant_id, first],
      );
      const second = (await post('second')).body.notice_id;
      const during = await notices(start);
      expect(during.body.notices).toEqual([]);
      await held.query('COMMIT');
      const after = await notices(during.body.next_since);
      expect(after.body.notices.map((n) => n.id).sort()).toEqual([first, second].sort());
      expect(after.body.notices.find((n) => n.id === first)?.read).toBe(true);
    } finally {
      await held.query('ROLLBACK').catch(() => undefined);
      await held.end();
      await t.herald.relay.start();
    }
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
      // The relay and the webhook and push dispatchers poll the same store: keep them out of the count.
      await t.herald.relay.stop();
      await t.herald.webhooks.stop();
      await t.herald.push.dispatcher.stop();
      const seen: string[] = [];
      t.db.onQuery((text) => seen.push(text));
      try {
        const res = await inbox(who, '?limit=200');
        return { seen, entries: res.body.entries };
      } finally {
        t.db.onQuery(null);
        await t.herald.relay.start();
        await t.herald.webhooks.start();
        await t.herald.push.dispatcher.start();
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
    // The cursor is opaque (a transaction horizon, not a version): syncing on from it is quiet.
    const quiet = await t.call<NoticePage>({
      method: 'GET',
      url: `/v1/notices?since=${changed.body.next_since}`,
      headers: t.bearer(bob),
    });
    expect(quiet.body).toEqual({ notices: [], next_since: changed.body.next_since, has_more: false });
  });
});

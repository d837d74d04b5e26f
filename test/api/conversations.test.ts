// Conversations and membership over HTTP: create, direct, members, join,
// leave; membership checked on every read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPair } from '../../src/auth/service.ts';
import type { Conversation, Member } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('conversations (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend, env: { HERALD_MAX_MEMBERS_PER_CALL: '3' } });
  });
  afterAll(async () => t?.close());

  async function setup() {
    const { tenant_id } = await t.createTenant();
    const users: Record<string, TokenPair> = {};
    for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) users[u] = await t.mintUser(tenant_id, u);
    return { tenant_id, users };
  }
  const as = (who: TokenPair) => t.bearer(who);

  it('creates a group and lists its members', async () => {
    const { users } = await setup();
    const res = await t.call<{ conversation: Conversation }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(users.alice),
      payload: { kind: 'group', title: 'Team', members: ['bob', 'carol'] },
    });
    expect(res.status).toBe(201);
    expect(res.body.conversation).toMatchObject({
      kind: 'group',
      title: 'Team',
      member_count: 3,
      last_seq: 1,
    });
    const id = res.body.conversation.id;
    const members = await t.call<{ members: Member[]; has_more: boolean }>({
      method: 'GET',
      url: `/v1/conversations/${id}/members?limit=2`,
      headers: as(users.bob),
    });
    expect(members.body.members.map((m) => [m.user_id, m.role])).toEqual([
      ['alice', 'admin'],
      ['bob', 'member'],
    ]);
    expect(members.body.has_more).toBe(true);
    const rest = await t.call<{ members: Member[]; has_more: boolean }>({
      method: 'GET',
      url: `/v1/conversations/${id}/members?after=bob`,
      headers: as(users.bob),
    });
    expect(rest.body).toMatchObject({ members: [{ user_id: 'carol' }], has_more: false });
    const got = await t.call({ method: 'GET', url: `/v1/conversations/${id}`, headers: as(users.carol) });
    expect(got.body).toMatchObject({ conversation: { id } });
  });

  it('rejects unknown members, too many members, and non-members reading', async () => {
    const { users } = await setup();
    const unknown = await t.call({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(users.alice),
      payload: { kind: 'group', title: 'x', members: ['ghost'] },
    });
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'USER_NOT_FOUND' } } });
    const many = await t.call({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(users.alice),
      payload: { kind: 'group', title: 'x', members: ['bob', 'carol', 'dave', 'erin'] },
    });
    expect(many).toMatchObject({ status: 400, body: { error: { code: 'TOO_MANY_MEMBERS' } } });

    const conv = await t.call<{ conversation: Conversation }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(users.alice),
      payload: { kind: 'group', title: 'private', members: ['bob'] },
    });
    const id = conv.body.conversation.id;
    for (const url of [
      `/v1/conversations/${id}`,
      `/v1/conversations/${id}/messages`,
      `/v1/conversations/${id}/events`,
      `/v1/conversations/${id}/members`,
      `/v1/conversations/${id}/receipts`,
    ]) {
      const res = await t.call({ method: 'GET', url, headers: as(users.erin) });
      expect(res, url).toMatchObject({ status: 403, body: { error: { code: 'NOT_A_MEMBER' } } });
    }
    const send = await t.call({
      method: 'POST',
      url: `/v1/conversations/${id}/messages`,
      headers: as(users.erin),
      payload: { body: 'let me in' },
    });
    expect(send).toMatchObject({ status: 403, body: { error: { code: 'NOT_A_MEMBER' } } });
  });

  it('gets or creates the direct conversation of a pair', async () => {
    const { users } = await setup();
    const a = await t.call<{ conversation: Conversation }>({
      method: 'PUT',
      url: '/v1/direct/bob',
      headers: as(users.alice),
    });
    expect(a.status).toBe(200);
    expect(a.body.conversation).toMatchObject({ kind: 'direct', member_count: 2 });
    const b = await t.call<{ conversation: Conversation }>({
      method: 'PUT',
      url: '/v1/direct/alice',
      headers: as(users.bob),
    });
    expect(b.body.conversation.id).toBe(a.body.conversation.id);
    const self = await t.call({ method: 'PUT', url: '/v1/direct/alice', headers: as(users.alice) });
    expect(self).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
    const ghost = await t.call({ method: 'PUT', url: '/v1/direct/ghost', headers: as(users.alice) });
    expect(ghost).toMatchObject({ status: 404, body: { error: { code: 'USER_NOT_FOUND' } } });
    const send = await t.call({
      method: 'POST',
      url: `/v1/conversations/${a.body.conversation.id}/messages`,
      headers: as(users.bob),
      payload: { body: 'hey' },
    });
    expect(send).toMatchObject({ status: 201, body: { message: { kind: 'direct', seq: 1 } } });
  });

  it('adds and removes members; channels are joinable', async () => {
    const { users } = await setup();
    const g = await t.call<{ conversation: Conversation }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(users.alice),
      payload: { kind: 'group', title: 'g' },
    });
    const gid = g.body.conversation.id;
    const added = await t.call({
      method: 'POST',
      url: `/v1/conversations/${gid}/members`,
      headers: as(users.alice),
      payload: { user_ids: ['bob', 'carol'] },
    });
    expect(added).toMatchObject({ status: 200, body: { conversation_id: gid, added: ['bob', 'carol'] } });
    const kicked = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${gid}/members/carol`,
      headers: as(users.alice),
    });
    expect(kicked).toMatchObject({ status: 200, body: { conversation_id: gid, removed: 'carol' } });
    const left = await t.call({
      method: 'DELETE',
      url: `/v1/conversations/${gid}/members/bob`,
      headers: as(users.bob),
    });
    expect(left.status).toBe(200);
    const gone = await t.call({
      method: 'GET',
      url: `/v1/conversations/${gid}/messages`,
      headers: as(users.bob),
    });
    expect(gone.body).toMatchObject({ error: { code: 'NOT_A_MEMBER' } });
    const joinGroup = await t.call({
      method: 'POST',
      url: `/v1/conversations/${gid}/join`,
      headers: as(users.bob),
    });
    expect(joinGroup).toMatchObject({ status: 400, body: { error: { code: 'INVALID_KIND' } } });

    const ch = await t.call<{ conversation: Conversation }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(users.alice),
      payload: { kind: 'channel', title: 'general' },
    });
    const cid = ch.body.conversation.id;
    const joined = await t.call<{ conversation: Conversation; joined: boolean }>({
      method: 'POST',
      url: `/v1/conversations/${cid}/join`,
      headers: { ...as(users.dave), 'content-type': 'application/json' },
    });
    expect(joined.status).toBe(200);
    expect(joined.body).toMatchObject({ joined: true, conversation: { id: cid, member_count: 2 } });
    const again = await t.call({
      method: 'POST',
      url: `/v1/conversations/${cid}/join`,
      headers: as(users.dave),
    });
    expect(again.body).toMatchObject({ joined: false });
    // Members of a channel may not add others; only moderators and admins.
    const invite = await t.call({
      method: 'POST',
      url: `/v1/conversations/${cid}/members`,
      headers: as(users.dave),
      payload: { user_ids: ['erin'] },
    });
    expect(invite).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
  });

  it('lets group members invite but only moderators and admins remove others, in every kind', async () => {
    const { users } = await setup();
    const make = async (kind: 'group' | 'channel', members: string[]) =>
      (
        await t.call<{ conversation: Conversation }>({
          method: 'POST',
          url: '/v1/conversations',
          headers: as(users.alice),
          payload: { kind, title: kind, members },
        })
      ).body.conversation.id;
    const kick = (who: TokenPair, id: string, user: string) =>
      t.call({ method: 'DELETE', url: `/v1/conversations/${id}/members/${user}`, headers: as(who) });
    const memberIds = async (id: string) =>
      (
        await t.call<{ members: Member[] }>({
          method: 'GET',
          url: `/v1/conversations/${id}/members`,
          headers: as(users.alice),
        })
      ).body.members.map((m) => m.user_id);

    const gid = await make('group', ['bob', 'carol']);
    // Any group member may invite…
    const invited = await t.call({
      method: 'POST',
      url: `/v1/conversations/${gid}/members`,
      headers: as(users.bob),
      payload: { user_ids: ['dave'] },
    });
    expect(invited).toMatchObject({ status: 200, body: { added: ['dave'] } });
    // …but not remove another member, let alone the admin.
    for (const target of ['carol', 'alice']) {
      const res = await kick(users.bob, gid, target);
      expect(res, target).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    }
    expect(await memberIds(gid)).toEqual(['alice', 'bob', 'carol', 'dave']);
    // Leaving is always allowed; the admin removes anyone.
    expect((await kick(users.dave, gid, 'dave')).status).toBe(200);
    expect((await kick(users.alice, gid, 'carol')).status).toBe(200);
    expect(await memberIds(gid)).toEqual(['alice', 'bob']);

    const cid = await make('channel', ['bob', 'carol']);
    expect((await kick(users.bob, cid, 'carol')).status).toBe(403);
    expect((await kick(users.alice, cid, 'carol')).status).toBe(200);
  });

  it('lets every user of the tenant read a tenant-wide announcement; only admins post', async () => {
    const { users } = await setup();
    const an = await t.call<{ conversation: Conversation }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: as(users.alice),
      payload: { kind: 'announcement', title: 'News', audience: 'tenant' },
    });
    expect(an.status).toBe(201);
    const id = an.body.conversation.id;
    const post = await t.call({
      method: 'POST',
      url: `/v1/conversations/${id}/messages`,
      headers: as(users.alice),
      payload: { body: 'Welcome all' },
    });
    expect(post).toMatchObject({ status: 201, body: { message: { kind: 'announcement' } } });
    const read = await t.call<{ messages: { body: string }[] }>({
      method: 'GET',
      url: `/v1/conversations/${id}/messages`,
      headers: as(users.erin),
    });
    expect(read.status).toBe(200);
    expect(read.body.messages.map((m) => m.body)).toContain('Welcome all');
    const denied = await t.call({
      method: 'POST',
      url: `/v1/conversations/${id}/messages`,
      headers: as(users.erin),
      payload: { body: 'me too' },
    });
    expect(denied).toMatchObject({ status: 403, body: { error: { code: 'NOT_ADMIN' } } });
  });
});

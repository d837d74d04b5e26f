import { describe, expect, it } from 'vitest';
import { execute } from '../../../src/domain/commands.ts';
import { seedTenant, snapshot } from '../../support/fixtures.ts';
import { type Backend, backends } from '../../support/stores.ts';
import { depsOf, expectCode, outboxOf, userTopic, useStore } from '../support.ts';

describe.each(backends())('SystemNotice (%s)', (backend: Backend) => {
  const s = useStore(backend);

  async function noticeState(tenant: string) {
    const { rows: notices } = await s.db.query(
      'SELECT id, title, body, data, audience FROM notices WHERE tenant_id = $1',
      [tenant],
    );
    const { rows: entries } = await s.db.query<{ user_id: string; notice_id: string; read: boolean }>(
      'SELECT user_id, notice_id, read FROM notice_entries WHERE tenant_id = $1 ORDER BY user_id',
      [tenant],
    );
    return { notices, entries, outbox: await outboxOf(s.db, tenant) };
  }

  it('to one user: one notice, one entry, one frame on their personal topic', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob']);
    const before = await snapshot(s.db, tenant);
    const sent = await execute(deps, tenant, {
      kind: 'SystemNotice',
      to: ['alice'],
      title: 'Welcome',
      body: 'Glad you are here',
      data: { link: '/start' },
    });
    expect(sent.recipients).toBe(1);
    const { notices, entries, outbox } = await noticeState(tenant);
    expect(notices).toEqual([
      {
        id: sent.notice_id,
        title: 'Welcome',
        body: 'Glad you are here',
        data: { link: '/start' },
        audience: 'users',
      },
    ]);
    expect(entries).toEqual([{ user_id: 'alice', notice_id: sent.notice_id, read: false }]);
    expect(outbox).toHaveLength(1);
    expect(outbox[0].topic).toBe(userTopic(tenant, 'alice'));
    expect(outbox[0].payload).toEqual({
      type: 'notice',
      notice: {
        id: sent.notice_id,
        title: 'Welcome',
        body: 'Glad you are here',
        data: { link: '/start' },
        created_at: expect.any(String),
        read: false,
        archived: false,
        dismissed: false,
        escalated: false,
        version: expect.any(Number),
      },
    });
    // Notices are not conversation messages.
    const after = await snapshot(s.db, tenant);
    expect(after).toEqual({ ...before, notices: 1, notice_entries: 1, outbox: 1 });
  });

  it('to a list (duplicates collapse): an entry and a frame per recipient', async () => {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, ['alice', 'bob', 'carol']);
    const sent = await execute(deps, tenant, {
      kind: 'SystemNotice',
      to: ['alice', 'carol', 'alice'],
      title: 'Grades',
      body: 'posted',
    });
    expect(sent.recipients).toBe(2);
    const { notices, entries, outbox } = await noticeState(tenant);
    expect(notices).toHaveLength(1);
    expect(entries.map((e) => e.user_id)).toEqual(['alice', 'carol']);
    expect(outbox.map((r) => r.topic).sort()).toEqual([
      userTopic(tenant, 'alice'),
      userTopic(tenant, 'carol'),
    ]);
    expect(new Set(outbox.map((r) => r.payload.notice.id))).toEqual(new Set([sent.notice_id]));
  });

  it("to 'tenant': every user of this tenant and no one else", async () => {
    const deps = depsOf(s.db);
    const users = ['alice', 'bob', 'carol', 'dave', 'erin'];
    const tenant = await seedTenant(s.db, users);
    const other = await seedTenant(s.db, ['alice']);
    const sent = await execute(deps, tenant, {
      kind: 'SystemNotice',
      to: 'tenant',
      title: 'Policy',
      body: 'updated',
    });
    expect(sent.recipients).toBe(users.length);
    const { notices, entries, outbox } = await noticeState(tenant);
    expect(notices).toEqual([expect.objectContaining({ audience: 'tenant' })]);
    expect(entries.map((e) => e.user_id)).toEqual(users);
    expect(outbox.map((r) => r.topic).sort()).toEqual(users.map((u) => userTopic(tenant, u)));
    expect(await snapshot(s.db, other)).toMatchObject({ notices: 0, notice_entries: 0, outbox: 0 });
  });

  it('rejects unknown users, an empty list, an empty or oversized notice, writing nothing', async () => {
    const deps = depsOf(s.db, { limits: { maxBodyBytes: 64 } });
    const tenant = await seedTenant(s.db, ['alice']);
    const before = await snapshot(s.db, tenant);
    const notice = (to: string[] | 'tenant', title: string, body: string) =>
      execute(deps, tenant, { kind: 'SystemNotice', to, title, body });
    await expectCode(notice(['alice', 'ghost'], 't', 'b'), 'USER_NOT_FOUND');
    await expectCode(notice([], 't', 'b'), 'VALIDATION_FAILED');
    await expectCode(notice(['alice'], ' ', ''), 'EMPTY_BODY');
    await expectCode(notice(['alice'], 't', 'x'.repeat(100)), 'BODY_TOO_LARGE');
    expect(await snapshot(s.db, tenant)).toEqual(before);
  });
});

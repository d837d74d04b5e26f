// The shared SQL pieces of inbox and notice writes: the personal-topic expression agrees with
// protocol/topics.ts, every writer's `inbox` frame goes to that topic, and the store stamps
// every change with a fresh version and its transaction (migration 003's trigger).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation, removeMember } from '../../src/domain/conversations.ts';
import { defaultLimits } from '../../src/domain/limits.ts';
import { nobodyViewing } from '../../src/domain/ports.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import { topics } from '../../src/protocol/index.ts';
import { pgStore } from '../../src/store/pg/index.ts';
import { userTopicSql } from '../../src/store/pg/sql.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';

describe.each(backends())('inbox rows and frames (%s)', (backend: Backend) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(backend);
  });
  afterAll(async () => store?.close());

  it('builds the personal topic in SQL exactly as topics.user does', async () => {
    for (const [tenant, user] of [
      ['acme', 'alice'],
      ['t_1-x', 'user:with:colons'],
    ]) {
      const { rows } = await store.db.query<{ topic: string }>(
        `SELECT ${userTopicSql('$1', '$2')} AS topic`,
        [tenant, user],
      );
      expect(rows[0].topic).toBe(topics.user(tenant, user));
    }
  });

  it("sends every writer's inbox frames to the recipients' personal topics", async () => {
    const deps = {
      db: store.db,
      ...pgStore,
      limits: defaultLimits,
      viewing: nobodyViewing,
    };
    const tenant = await seedTenant(store.db, ['alice', 'bob', 'carol']);
    const alice = { type: 'user', user_id: 'alice' } as const;
    const { id } = await createConversation(deps, tenant, alice, {
      kind: 'group',
      title: 'g',
      members: ['bob', 'carol'],
    });
    const sent = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'alice',
      conversation: id,
      input: { body: 'hello' },
    });
    await markRead(deps, tenant, 'bob', id, sent.message.seq);
    await removeMember(deps, tenant, alice, id, 'carol');
    const { rows } = await store.db.query<{ topic: string; conv: string }>(
      `SELECT topic, payload->'entry'->>'conversation_id' AS conv FROM outbox
        WHERE tenant_id = $1 AND payload->>'type' = 'inbox'`,
      [tenant],
    );
    const expected = new Set(['alice', 'bob', 'carol'].map((u) => topics.user(tenant, u)));
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(expected.has(r.topic), r.topic).toBe(true);
  });

  it('gives a changed row a fresh version and its transaction, and leaves an unchanged one be', async () => {
    const deps = {
      db: store.db,
      ...pgStore,
      limits: defaultLimits,
      viewing: nobodyViewing,
    };
    const tenant = await seedTenant(store.db, ['alice']);
    await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      {
        kind: 'group',
        title: 'solo',
        members: [],
      },
    );
    const read = async () =>
      (
        await store.db.query<{ version: string; xid: string }>(
          `SELECT version::text, xid::text FROM inbox_entries WHERE tenant_id = $1 AND user_id = 'alice'`,
          [tenant],
        )
      ).rows[0];
    const before = await read();
    // A writer that forgets to bump the version still produces a change sync will see.
    await store.db.query(`UPDATE inbox_entries SET muted = true WHERE tenant_id = $1`, [tenant]);
    const changed = await read();
    expect(BigInt(changed.version)).toBeGreaterThan(BigInt(before.version));
    expect(BigInt(changed.xid)).toBeGreaterThan(BigInt(before.xid));
    await store.db.query(`UPDATE inbox_entries SET muted = true WHERE tenant_id = $1`, [tenant]);
    expect(await read()).toEqual(changed);
  });
});

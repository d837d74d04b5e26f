import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { defaultLimits } from '../../src/domain/limits.ts';
import { nobodyViewing } from '../../src/domain/ports.ts';
import { markRead } from '../../src/domain/read-marker.ts';
import { pgStore } from '../../src/store/pg/index.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';

describe.each(backends())('write path smoke (%s)', (backend: Backend) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(backend);
  });
  afterAll(async () => store?.close());

  it('sends a direct message, a group message and marks read', async () => {
    const deps = {
      db: store.db,
      ...pgStore,
      limits: defaultLimits,
      viewing: nobodyViewing,
    };
    const tenant = await seedTenant(store.db, ['alice', 'bob', 'carol']);
    const dm = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'hi bob', client_id: 'c1' },
    });
    expect(dm.message.seq).toBe(1);
    const again = await execute(deps, tenant, {
      kind: 'DirectMessage',
      sender: 'alice',
      to: 'bob',
      input: { body: 'hi bob', client_id: 'c1' },
    });
    expect(again.replayed).toBe(true);
    expect(again.message.id).toBe(dm.message.id);

    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      {
        kind: 'group',
        title: 'g',
        members: ['bob', 'carol'],
      },
    );
    const g = await execute(deps, tenant, {
      kind: 'GroupMessage',
      sender: 'bob',
      conversation: id,
      input: { body: 'hello @carol', mentions: ['carol'] },
    });
    expect(g.message.seq).toBe(2);
    const { rows } = await store.db.query(
      'SELECT user_id, unread_count, mention_count, last_read_seq FROM inbox_entries WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY user_id',
      [tenant, id],
    );
    expect(rows).toEqual([
      { user_id: 'alice', unread_count: 1, mention_count: 0, last_read_seq: 1 },
      { user_id: 'bob', unread_count: 0, mention_count: 0, last_read_seq: 2 },
      { user_id: 'carol', unread_count: 1, mention_count: 1, last_read_seq: 1 },
    ]);
    const r = await markRead(deps, tenant, 'carol', id, 2);
    expect(r.moved).toBe(true);
    expect(r.entry.unread_count).toBe(0);
    expect(r.entry.mention_count).toBe(0);
  });
});

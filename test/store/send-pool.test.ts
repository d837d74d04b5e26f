// On a PostgreSQL server the sends' group commits run on connections of their own
// (src/host/herald.ts): a burst of reads that takes every connection of the shared pool —
// 10,000 clients resubscribing after a network blip — does not hold other users' sends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { type Herald, startHerald } from '../../src/host/herald.ts';
import { createLogger } from '../../src/host/logger.ts';
import { seedTenant } from '../support/fixtures.ts';
import { backends, createTestDatabase } from '../support/stores.ts';

describe.runIf(backends().includes('postgres'))('the send path has connections of its own', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: Herald;
  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startHerald(
      loadConfig({ DATABASE_URL: database.url, HERALD_DEMO: 'false', HERALD_JWT_SECRET: 'x'.repeat(32) }),
      { log: createLogger('silent') },
    );
  });
  afterAll(async () => {
    await herald?.close();
    await database?.drop();
  });

  it('a send commits while every connection of the shared pool is busy', async () => {
    const tenant = await seedTenant(herald.db, ['alice', 'bob']);
    const { id } = await createConversation(
      herald.deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      { kind: 'group', title: 'g', members: ['bob'] },
    );
    const token = (await herald.auth.tokens.mint({ tenant_id: tenant, user_id: 'alice', tenants: [tenant] }))
      .token;
    const send = (body: string) =>
      herald.app.inject({
        method: 'POST',
        url: `/v1/conversations/${id}/messages`,
        headers: { authorization: `Bearer ${token}` },
        payload: { body },
      });
    const first = await send('first'); // the conversation's kind is cached now
    expect(first.statusCode).toBe(201);

    // Every connection of the shared pool (10) busy for 3 s.
    let readDone = false;
    const reads = Array.from({ length: 10 }, () =>
      herald.db.query('SELECT pg_sleep(3)').then(() => {
        readDone = true;
      }),
    );
    await new Promise((r) => setTimeout(r, 200)); // the sleeps hold their connections
    const res = await send('while the pool is busy');
    expect(res.statusCode).toBe(201);
    expect(readDone).toBe(false);
    expect(res.json().message.seq).toBe(first.json().message.seq + 1);
    await Promise.all(reads);
  });
});

import { describe, expect, it } from 'vitest';
import { memoryBus } from '../../src/bus/memory.ts';
import { type Bus, publishOneByOne } from '../../src/bus/port.ts';
import { execute } from '../../src/domain/commands.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import { OutboxRelay } from '../../src/relay/outbox-relay.ts';
import type { Db } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { depsOf, outboxOf, roomTopic, userTopic, useStore, waitFor } from '../domain/support.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends } from '../support/stores.ts';

interface Received {
  topic: string;
  // biome-ignore lint/suspicious/noExplicitAny: frames are inspected loosely.
  frame: any;
}

/** Subscribes to the given topics and records every frame, in delivery order. */
async function record(bus: Bus, topics: string[]): Promise<Received[]> {
  const got: Received[] = [];
  for (const t of topics)
    await bus.subscribe(t, (payload, topic) => got.push({ topic, frame: JSON.parse(payload) }));
  return got;
}

/** A bus that fails the nth publish (1-based), once. */
function failingOnce(inner: Bus, nth: number): Bus & { calls: number; failedTopic: string | null } {
  const b: Bus & { calls: number; failedTopic: string | null } = {
    kind: inner.kind,
    calls: 0,
    failedTopic: null,
    async publish(topic: string, payload: string) {
      b.calls += 1;
      if (b.calls === nth) {
        b.failedTopic = topic;
        throw new Error('bus down');
      }
      await inner.publish(topic, payload);
    },
    publishMany: publishOneByOne((topic, payload) => b.publish(topic, payload)),
    subscribe: (topic, handler) => inner.subscribe(topic, handler),
    onResync: (listener) => inner.onResync(listener),
    healthy: () => inner.healthy(),
    close: () => inner.close(),
  };
  return b;
}

async function unpublished(db: Db, tenant: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1 AND published_at IS NULL',
    [tenant],
  );
  return rows[0].n;
}

describe.each(backends())('outbox relay (%s)', (backend: Backend) => {
  // Tests of PostgreSQL-server behaviour (two connections, LISTEN sockets) exist only there.
  const onPostgres = backend === 'postgres' ? it : () => {};

  const s = useStore(backend);

  /** A group of alice+bob with n messages committed and no relay running. */
  async function committed(n: number, users = ['alice', 'bob']) {
    const deps = depsOf(s.db);
    const tenant = await seedTenant(s.db, users);
    const { id } = await createConversation(
      deps,
      tenant,
      { type: 'user', user_id: users[0] },
      {
        kind: 'group',
        title: 'r',
        members: users,
      },
    );
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        await execute(deps, tenant, {
          kind: 'GroupMessage',
          sender: users[i % users.length],
          conversation: id,
          input: { body: `m${i}` },
        });
      }
    };
    await send(n);
    return { deps, tenant, id, send };
  }

  /** Publishes whatever earlier tests left pending so a test sees only its own rows. */
  async function flush() {
    await new OutboxRelay({ db: s.db, bus: memoryBus() }).drain();
  }

  it('after a crash between commit and publish, a new relay publishes exactly the missing rows in seq order', async () => {
    await flush();
    const bus = memoryBus();
    const { tenant, id, send } = await committed(3);
    const topics = [roomTopic(tenant, id), userTopic(tenant, 'alice'), userTopic(tenant, 'bob')];
    const got = await record(bus, topics);
    // The first relay published the first batch, then "died".
    expect(await new OutboxRelay({ db: s.db, bus }).drain()).toBeGreaterThan(0);
    const firstBatch = got.length;
    expect(got.filter((g) => g.topic === topics[0]).map((g) => g.frame.seq)).toEqual([1, 2, 3, 4]);
    // Commits with no relay running.
    await send(5);
    expect(await unpublished(s.db, tenant)).toBe(5 * 3);
    expect(got).toHaveLength(firstBatch);

    const relay = new OutboxRelay({ db: s.db, bus, pollMs: 50 });
    await relay.start();
    try {
      await waitFor(async () => (await unpublished(s.db, tenant)) === 0, 'the relay to publish the backlog');
    } finally {
      await relay.stop();
    }
    const fresh = got.slice(firstBatch);
    expect(fresh).toHaveLength(5 * 3);
    const room = fresh.filter((g) => g.topic === topics[0]);
    expect(room.map((g) => g.frame.seq)).toEqual([5, 6, 7, 8, 9]);
    expect(room.every((g) => g.frame.type === 'event' && g.frame.event.type === 'message.created')).toBe(
      true,
    );
    // Personal topics: one inbox frame per recipient per message, in order.
    for (const u of ['alice', 'bob']) {
      const inbox = fresh.filter((g) => g.topic === userTopic(tenant, u));
      expect(inbox.map((g) => g.frame.entry.last_seq)).toEqual([5, 6, 7, 8, 9]);
    }
    expect((await outboxOf(s.db, tenant)).every((r) => r.published)).toBe(true);
  });

  it('a bus failure mid-batch leaves the rows unpublished; they are published again later (at-least-once)', async () => {
    await flush();
    const inner = memoryBus();
    // Enough topics that they surely span several partitions.
    const { tenant, id } = await committed(4, ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']);
    const room = roomTopic(tenant, id);
    const got = await record(inner, [room]);
    const pending = await unpublished(s.db, tenant);
    expect(pending).toBeGreaterThan(4);

    const flaky = failingOnce(inner, 3);
    const failures: unknown[] = [];
    const relay = new OutboxRelay({ db: s.db, bus: flaky });
    await expect(relay.drain()).rejects.toThrow('bus down');
    // In the failed row's partition, the refused row and every later row stay pending (so
    // its topics are not reordered); earlier rows of it and the other partitions went out.
    const { rows } = await s.db.query<{ id: number; partition: number; topic: string; published: boolean }>(
      `SELECT id, partition, topic, published_at IS NOT NULL AS published FROM outbox
        WHERE tenant_id = $1 ORDER BY id`,
      [tenant],
    );
    const failed = rows.find((r) => r.topic === flaky.failedTopic && !r.published)!;
    for (const r of rows) expect(r.published).toBe(r.partition !== failed.partition || r.id < failed.id);
    expect(await unpublished(s.db, tenant)).toBeLessThan(pending);

    // Later (bus healthy again) everything goes out; frames before the failure arrive twice.
    const again = new OutboxRelay({ db: s.db, bus: flaky, pollMs: 50, onError: (e) => failures.push(e) });
    await again.start();
    try {
      await waitFor(async () => (await unpublished(s.db, tenant)) === 0, 'the retry to publish');
    } finally {
      await again.stop();
    }
    expect(failures).toEqual([]);
    const seqs = got.map((g) => g.frame.seq);
    // Every seq 1..5 arrived at least once, and after dropping what a client already has
    // (seq <= last seen) the stream is exactly 1..5 in order.
    const applied: number[] = [];
    for (const q of seqs) if (q > (applied.at(-1) ?? 0)) applied.push(q);
    expect(applied).toEqual([1, 2, 3, 4, 5]);
    expect(seqs.length).toBeGreaterThanOrEqual(5);
  });

  it('a topic the bus keeps refusing holds back only its own partition', async () => {
    await flush();
    const bus = memoryBus();
    const { tenant, id } = await committed(2, ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']);
    const bad = roomTopic(tenant, id);
    const publish: Bus['publish'] = async (topic, payload) => {
      if (topic === bad) throw new Error('refused');
      await bus.publish(topic, payload);
    };
    const refusing: Bus = { ...bus, kind: bus.kind, publish, publishMany: publishOneByOne(publish) };
    await expect(new OutboxRelay({ db: s.db, bus: refusing }).drain()).rejects.toThrow('refused');
    const { rows } = await s.db.query<{ id: number; partition: number; topic: string; published: boolean }>(
      `SELECT id, partition, topic, published_at IS NOT NULL AS published FROM outbox
        WHERE tenant_id = $1 ORDER BY id`,
      [tenant],
    );
    // The refused topic's first row and everything after it in its partition stay pending.
    const first = rows.find((r) => r.topic === bad)!;
    expect(rows.some((r) => r.partition !== first.partition)).toBe(true);
    for (const r of rows) expect(r.published).toBe(r.partition !== first.partition || r.id < first.id);
    expect(rows.filter((r) => r.topic === bad).every((r) => !r.published)).toBe(true);
    // Once the bus accepts it again, the held-back partition goes out.
    await new OutboxRelay({ db: s.db, bus }).drain();
    expect(await unpublished(s.db, tenant)).toBe(0);
  });

  it('a partition with more rows than one batch takes drains in several batches of one drain, in order', async () => {
    await flush();
    const { tenant, id, send } = await committed(0);
    await flush();
    await send(5);
    const bus = memoryBus();
    const got = await record(bus, [roomTopic(tenant, id)]);
    let batches = 0;
    const counting: Bus = {
      ...bus,
      kind: bus.kind,
      publishMany: (m) => {
        batches += 1;
        return bus.publishMany(m);
      },
    };
    await new OutboxRelay({ db: s.db, bus: counting, batchSize: 2 }).drain();
    expect(await unpublished(s.db, tenant)).toBe(0);
    expect(batches).toBeGreaterThanOrEqual(3);
    expect(got.map((g) => g.frame.seq)).toEqual([2, 3, 4, 5, 6]);
  });

  it('one batch is a constant number of statements however many rows and topics it publishes', async () => {
    await flush();
    const users = Array.from({ length: 120 }, (_, i) => `u${i}`);
    const { tenant, send } = await committed(0, users);
    await flush();
    await send(3); // 3 room events + 3 × 120 inbox frames on 120 personal topics (many partitions)
    const pending = await unpublished(s.db, tenant);
    expect(pending).toBeGreaterThanOrEqual(3 * 121);
    const bus = memoryBus();
    let batches = 0;
    const counting: Bus = {
      ...bus,
      kind: bus.kind,
      publishMany: (m) => {
        batches += 1;
        return bus.publishMany(m);
      },
    };
    const statements: string[] = [];
    s.db.onQuery((text) => statements.push(text));
    try {
      expect(await new OutboxRelay({ db: s.db, bus: counting }).drain()).toBe(pending);
    } finally {
      s.db.onQuery(null);
    }
    expect(batches).toBe(1);
    // lock the pending partitions and read (one call), mark published (+ the periodic prune)
    expect(statements.filter((t) => !/^\s*DELETE FROM outbox/.test(t)).length).toBeLessThanOrEqual(2);
    expect(await unpublished(s.db, tenant)).toBe(0);
  });

  onPostgres(
    'a partition another relay holds is skipped; the others are published; it follows once free',
    async () => {
      await flush();
      const users = Array.from({ length: 40 }, (_, i) => `p${i}`);
      const { tenant, id, send } = await committed(0, users);
      await flush();
      await send(2); // 2 room events + 2 × 40 inbox frames over many partitions
      const { rows: room } = await s.db.query<{ partition: number }>(
        'SELECT DISTINCT partition FROM outbox WHERE topic = $1 AND published_at IS NULL',
        [roomTopic(tenant, id)],
      );
      expect(room).toHaveLength(1);
      const held = room[0].partition;
      // Another relay's transaction owns the room's partition (the relay's lock class).
      const other = await openPostgres(s.store.url as string, { max: 1 });
      let release: () => void = () => {};
      const released = new Promise<void>((r) => (release = r));
      let locked: () => void = () => {};
      const isLocked = new Promise<void>((r) => (locked = r));
      const holder = other.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(7261002, $1)', [held]);
        locked();
        await released;
      });
      try {
        await isLocked;
        const published = await new OutboxRelay({ db: s.db, bus: memoryBus() }).drain();
        const { rows: left } = await s.db.query<{ partition: number; n: number }>(
          `SELECT partition, count(*)::int AS n FROM outbox
          WHERE tenant_id = $1 AND published_at IS NULL GROUP BY partition`,
          [tenant],
        );
        // Only the held partition is left, the room's events among its rows.
        expect(left.map((l) => l.partition)).toEqual([held]);
        expect(published).toBeGreaterThan(0);
        release();
        await holder;
        await new OutboxRelay({ db: s.db, bus: memoryBus() }).drain();
        expect(await unpublished(s.db, tenant)).toBe(0);
      } finally {
        release();
        await holder.catch(() => {});
        await other.close();
      }
    },
  );

  it('LISTEN/NOTIFY wakes the relay: a send is published without waiting for the poll', async () => {
    await flush();
    const bus = memoryBus();
    const { deps, tenant, id } = await committed(0);
    const got = await record(bus, [roomTopic(tenant, id)]);
    const relay = new OutboxRelay({ db: s.db, bus, pollMs: 600_000 });
    await relay.start();
    try {
      // The start-up drain publishes the creation event; then the relay sleeps on the poll.
      await waitFor(() => got.length === 1, 'the start-up drain');
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body: 'now' },
      });
      await waitFor(() => got.length === 2, 'a NOTIFY-driven publish');
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'bob',
        conversation: id,
        input: { body: 'again' },
      });
      await waitFor(() => got.length === 3, 'a second NOTIFY-driven publish');
    } finally {
      await relay.stop();
    }
    expect(got.map((g) => g.frame.seq)).toEqual([1, 2, 3]);
  });

  onPostgres('a dropped LISTEN connection is re-established and nothing waits for the poll', async () => {
    await flush();
    const bus = memoryBus();
    const { deps, tenant, id } = await committed(0);
    const got = await record(bus, [roomTopic(tenant, id)]);
    const relay = new OutboxRelay({ db: s.db, bus, pollMs: 600_000 });
    await relay.start();
    try {
      await waitFor(() => got.length === 1, 'the start-up drain');
      const { rows } = await s.db.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
      );
      expect(rows).toEqual([{ ok: true }]);
      // Sent while the listener may still be down: the reconnect's wake-up covers it.
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body: 'a' },
      });
      await waitFor(() => got.length === 2, 'a publish after the listener reconnected');
      await waitFor(async () => {
        const { rows: l } = await s.db.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        );
        return l.length === 1;
      }, 'the LISTEN connection to come back');
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'bob',
        conversation: id,
        input: { body: 'b' },
      });
      await waitFor(() => got.length === 3, 'a NOTIFY-driven publish on the new connection');
    } finally {
      await relay.stop();
    }
    expect(got.map((g) => g.frame.seq)).toEqual([1, 2, 3]);
  });

  onPostgres(
    'two relays on one database never reorder a conversation (advisory-lock partitions)',
    async () => {
      await flush();
      const users = ['alice', 'bob', 'carol'];
      const deps = depsOf(s.db);
      const tenant = await seedTenant(s.db, users);
      const convs: string[] = [];
      for (let i = 0; i < 6; i++) {
        const { id } = await createConversation(
          deps,
          tenant,
          { type: 'system' },
          { kind: 'group', title: `c${i}`, members: users },
        );
        convs.push(id);
      }
      // One shared bus (as Redis would be), two relays each with their own connections.
      const bus = memoryBus();
      const got = await record(
        bus,
        convs.map((c) => roomTopic(tenant, c)),
      );
      const otherDb = await openPostgres(s.store.url!, { max: 4 });
      const errors: unknown[] = [];
      const relays = [
        new OutboxRelay({ db: s.db, bus, pollMs: 5, batchSize: 3, onError: (e) => errors.push(e) }),
        new OutboxRelay({ db: otherDb, bus, pollMs: 5, batchSize: 3, onError: (e) => errors.push(e) }),
      ];
      await Promise.all(relays.map((r) => r.start()));
      try {
        // Sends keep committing while both relays drain.
        const perConv = 25;
        await Promise.all(
          convs.map(async (conversation, c) => {
            for (let i = 0; i < perConv; i++) {
              await execute(deps, tenant, {
                kind: 'GroupMessage',
                sender: users[(i + c) % users.length],
                conversation,
                input: { body: `${c}:${i}` },
              });
            }
          }),
        );
        await waitFor(async () => (await unpublished(s.db, tenant)) === 0, 'both relays to drain', 20_000);
      } finally {
        await Promise.all(relays.map((r) => r.stop()));
        await otherDb.close();
      }
      expect(errors).toEqual([]);
      for (const c of convs) {
        const seqs = got.filter((g) => g.topic === roomTopic(tenant, c)).map((g) => g.frame.seq);
        expect(seqs).toEqual(Array.from({ length: 26 }, (_, i) => i + 1));
      }
    },
  );
});

// The relay killed between publish and mark-published, on real processes
// (the in-process version, a bus failure mid-batch, is in
// test/relay/outbox-relay.test.ts). Two `herald serve` nodes share one
// PostgreSQL and one Redis; a trigger in the test's own database holds every
// "mark published" UPDATE, so the relay that owns the group's partition has
// published its batch to Redis but cannot mark it. That node is SIGKILLed;
// its transaction rolls back and the survivor's relay publishes the same rows
// again: a Redis subscriber sees them twice, while clients hold every event
// once (the gateway and the client both drop seq <= last).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeProcess } from '../support/cluster.ts';
import { pgServerAvailable } from '../support/pg-server.ts';
import { REDIS_URL, redisAvailable, testPrefix, waitFor } from '../support/redis.ts';
import { expectInvariants, PatientFollower, PgFaultBed, Traffic, world } from './harness.ts';

const HOLD = 4242; // advisory lock the test holds while marks must wait
const RELAY_LOCK_CLASS = 7261002; // src/relay/outbox-relay.ts: one advisory lock per partition

describe.runIf(pgServerAvailable() && redisAvailable())('relay killed between publish and mark', () => {
  let bed: PgFaultBed | undefined;
  const prefix = testPrefix();
  const followers: PatientFollower[] = [];
  const taps: Redis[] = [];
  afterAll(async () => {
    for (const t of taps) await t.quit();
    for (const f of followers) f.close();
    await bed?.close();
    await prefix.cleanup();
  });

  it('SIGKILL of the node whose relay published but had not marked: the rows are published again, clients drop them by seq, nothing is lost', async () => {
    bed = await PgFaultBed.start({ REDIS_URL, HERALD_REDIS_PREFIX: prefix.prefix });
    const url = bed.env.DATABASE_URL;
    // application_name tells the nodes' backends apart in pg_stat_activity.
    const [a, b] = await Promise.all([
      bed.node({ DATABASE_URL: `${url}?application_name=herald-a` }),
      bed.node({ DATABASE_URL: `${url}?application_name=herald-b` }),
    ]);
    const byName: Record<string, NodeProcess> = { 'herald-a': a, 'herald-b': b };
    const w = await world(a.url, bed.env.HERALD_ADMIN_TOKEN);
    const onA = new PatientFollower(w.token.bob, [w.group]);
    const onB = new PatientFollower(w.token.carol, [w.group]);
    followers.push(onA, onB);
    await onA.connect(a.wsUrl, a.url);
    await onB.connect(b.wsUrl, b.url);

    const room = `t:${w.tenant}:c:${w.group}`;
    // Every copy the relays put on the bus for the group's room topic.
    const published: number[] = [];
    const tap = new Redis(REDIS_URL);
    await tap.subscribe(`${prefix.prefix}${room}`);
    tap.on('message', (_ch, payload) => published.push((JSON.parse(payload) as { seq: number }).seq));
    taps.push(tap);

    const db = await bed.db();
    // Only marks that include the group's room rows wait (row trigger): other partitions flow,
    // so a relay blocked elsewhere cannot keep the room partition from being published at all.
    await db.query(`
      CREATE FUNCTION fault_hold_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.topic = '${room}' THEN
          PERFORM pg_advisory_lock_shared(${HOLD}); PERFORM pg_advisory_unlock_shared(${HOLD});
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fault_hold_mark BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION fault_hold_mark();`);
    const holder = new pg.Client({ connectionString: url });
    holder.on('error', () => {});
    await holder.connect();
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await holder.end();
    };
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [HOLD]);
      const traffic = new Traffic(() => a.url, w.token.alice, w.group);
      for (let i = 0; i < 10; i++) await traffic.sendOne(`held-${i}-${randomUUID().slice(0, 6)}`);
      // The first relay to take the group's partition published a batch and is stuck marking
      // it; later rows of that partition wait behind its lock. The oldest pending row of the
      // group is in that batch.
      const { rows: part } = await db.query<{ partition: number; seq: number }>(
        `SELECT partition, min((payload->>'seq')::int) AS seq FROM outbox
          WHERE topic = $1 AND published_at IS NULL GROUP BY partition`,
        [room],
      );
      expect(part).toHaveLength(1);
      // Find the node whose relay holds that partition inside its UPDATE.
      let owner: NodeProcess | undefined;
      await waitFor(
        async () => {
          const { rows } = await db.query<{ app: string }>(
            `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted
                AND a.query LIKE 'UPDATE outbox%'`,
            [RELAY_LOCK_CLASS, part[0].partition],
          );
          owner = byName[rows[0]?.app ?? ''];
          return owner !== undefined;
        },
        10_000,
        'the relay blocked between publish and mark',
      );
      const killed = owner as NodeProcess;
      const survivor = killed === a ? b : a;
      const watcher = killed === a ? onB : onA;
      // Published: the client on the other node has it live (through Redis) — yet unmarked.
      await waitFor(
        () => watcher.client?.seqs(w.group).includes(part[0].seq) ?? false,
        10_000,
        'the held batch to be published',
      );
      await bed.kill(killed, 'SIGKILL');
      await release();

      // The survivor's relay publishes the rolled-back batch again.
      await waitFor(
        async () => {
          const { rows } = await db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1 AND published_at IS NULL',
            [w.tenant],
          );
          return rows[0].n === 0;
        },
        20_000,
        'the outbox to be fully published',
      );
      // The held batch went on the bus twice …
      expect(published.filter((q) => q === part[0].seq).length).toBe(2);
      // … yet every client applied each committed event once, in order. More sends through
      // the survivor prove the node goes on normally.
      const more = new Traffic(() => survivor.url, w.token.alice, w.group);
      for (let i = 0; i < 5; i++) await more.sendOne(`after-${i}`);
      for (const [k, v] of more.acked) traffic.acked.set(k, v);
      await expectInvariants(bed, w, traffic, [watcher]);
    } finally {
      await release();
    }
  }, 90_000);
});

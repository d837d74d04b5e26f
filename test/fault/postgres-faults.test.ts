// PostgreSQL faults on a real `herald serve` process (issue 9, defect 1): a
// throwaway cluster whose backends are terminated, which is restarted and
// which is stopped for seconds while sends and subscriptions are live. The
// node must stay up, answer 503 STORE_UNAVAILABLE with Retry-After while the
// store is gone, and resume by itself; nothing committed is lost and nothing
// is applied twice by a client that applies by seq.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client, until } from '../gateway/harness.ts';
import type { NodeProcess } from '../support/cluster.ts';
import { pgServerAvailable } from '../support/pg-server.ts';
import { waitFor } from '../support/redis.ts';
import {
  api,
  expectInvariants,
  expectRetryable,
  PatientFollower,
  PgFaultBed,
  readyz,
  Traffic,
  type World,
  world,
} from './harness.ts';

describe.runIf(pgServerAvailable())('PostgreSQL faults on a real node', () => {
  let bed: PgFaultBed;
  let node: NodeProcess;
  const followers: PatientFollower[] = [];

  beforeAll(async () => {
    bed = await PgFaultBed.start();
    node = await bed.node();
  });
  afterAll(async () => {
    for (const f of followers) f.close();
    await bed?.close();
  });

  async function follower(w: World, user: 'bob' | 'carol'): Promise<PatientFollower> {
    const f = new PatientFollower(w.token[user], [w.group]);
    followers.push(f);
    await f.connect(node.wsUrl, node.url);
    return f;
  }

  it('terminated backends mid-sends: the node stays up, failed sends get 503 STORE_UNAVAILABLE + Retry-After, later sends succeed', async () => {
    const w = await world(node.url, bed.env.HERALD_ADMIN_TOKEN);
    const bob = await follower(w, 'bob');
    const traffic = new Traffic(() => node.url, w.token.alice, w.group).start(4);
    await traffic.progress(20);
    // Each round kills every backend Herald holds — pool, relay and LISTEN connections — while
    // four senders are mid-transaction; repeat until some send was caught in flight.
    for (let round = 0; round < 20 && traffic.unavailable.length === 0; round++) {
      expect(await bed.pg.terminateBackends(bed.database)).toBeGreaterThan(0);
      await traffic.progress(10);
    }
    expect(traffic.unavailable.length).toBeGreaterThan(0);
    for (const res of traffic.unavailable) expectRetryable(res);
    await traffic.progress(20); // service resumed by itself
    await traffic.stop();
    await expectInvariants(bed, w, traffic, [bob]);
  });
});

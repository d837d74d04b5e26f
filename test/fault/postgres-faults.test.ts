// PostgreSQL faults on a real `herald serve` process (issue 9, defect 1): a
// throwaway cluster whose backends are terminated, which is restarted and
// which is stopped for seconds while sends and subscriptions are live. The
// node must stay up, answer 503 STORE_UNAVAILABLE with Retry-After while the
// store is gone, and resume by itself; nothing committed is lost and nothing
// is applied twice by a client that applies by seq.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
    // Polling is put out of reach: live delivery after a fault then proves that the LISTEN
    // connection came back and woke the relay (the default 1 s poll would hide a dead LISTEN).
    bed = await PgFaultBed.start({ HERALD_RELAY_POLL_MS: '60000' });
    node = await bed.node();
  });
  // A node that died shows its output here, not as the next test's ECONNREFUSED.
  afterEach(() => bed.expectNoneExited());
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

  /** Records /readyz statuses until stopped. */
  function watchReadyz(): { statuses: number[]; stop(): Promise<void> } {
    const statuses: number[] = [];
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const res = await fetch(`${node.url}/readyz`).catch(() => null);
        statuses.push(res?.status ?? 0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    return {
      statuses,
      async stop() {
        stopped = true;
        await loop;
      },
    };
  }

  /** A new message reaches a follower's socket live (the relay publishes again). */
  async function deliveredLive(traffic: Traffic, f: PatientFollower, w: World): Promise<void> {
    const seq = await traffic.sendOne(`live-${Date.now()}`);
    await until(() => f.client?.seqs(w.group).includes(seq), 'live delivery after the fault', 20_000);
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

  it('pg_ctl restart -m fast with sends and subscriptions live: /readyz goes 503 then 200, the relay resumes, nothing lost or doubled', async () => {
    const w = await world(node.url, bed.env.HERALD_ADMIN_TOKEN);
    const bob = await follower(w, 'bob');
    const carol = await follower(w, 'carol');
    const traffic = new Traffic(() => node.url, w.token.alice, w.group).start(4);
    await traffic.progress(20);
    const ready = watchReadyz();
    await bed.pg.restart();
    await traffic.progress(20);
    await readyz(node.url, 200);
    await ready.stop();
    const down = ready.statuses.indexOf(503);
    expect(down, `readyz statuses: ${ready.statuses.join(',')}`).toBeGreaterThanOrEqual(0);
    expect(ready.statuses.slice(down).includes(200)).toBe(true);
    expect(ready.statuses.every((s) => s === 200 || s === 503)).toBe(true); // never an error page
    for (const f of [bob, carol]) await deliveredLive(traffic, f, w);
    await traffic.stop();
    await expectInvariants(bed, w, traffic, [bob, carol]);
  });

  it('PostgreSQL stopped for seconds: HTTP, WebSocket and SSE calls get STORE_UNAVAILABLE at once, /readyz 503; all resumes when it is back', async () => {
    const w = await world(node.url, bed.env.HERALD_ADMIN_TOKEN);
    const bob = await follower(w, 'bob');
    // A second tenant no socket has used yet: its handshake needs the store (the Origin allow-list).
    const cold = await world(node.url, bed.env.HERALD_ADMIN_TOKEN);
    const traffic = new Traffic(() => node.url, w.token.alice, w.group).start(2);
    await traffic.progress(10);
    await bed.pg.down('fast');
    const downAt = Date.now();
    try {
      await readyz(node.url, 503);
      const ready = await fetch(`${node.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(Number(ready.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

      // HTTP: a retryable 503 at once, not a hang until some timeout.
      const t0 = Date.now();
      const res = await api(node.url, 'POST', `/v1/conversations/${w.group}/messages`, w.token.bob, {
        body: 'during the outage',
      });
      expectRetryable(res);
      expect(res.body.error?.code).toBe('STORE_UNAVAILABLE');
      expect(Date.now() - t0).toBeLessThan(3_000);
      const inbox = await api(node.url, 'GET', '/v1/inbox', w.token.bob);
      expectRetryable(inbox);

      // WebSocket: `send` and `subscribe` answer error frames naming STORE_UNAVAILABLE; the socket stays.
      bob.client?.send({ type: 'send', conversation: w.group, client_id: 'ws-outage', body: 'over ws' });
      const sendErr = await bob.client?.next('error', (f) => f.ref === 'ws-outage');
      expect(sendErr?.code).toBe('STORE_UNAVAILABLE');
      const carolWs = new Client(
        new WebSocket(node.wsUrl, { headers: { authorization: `Bearer ${w.token.carol}` } }),
      );
      await until(() => carolWs.opened || carolWs.closed, 'carol socket open');
      const first = await until(() => carolWs.frames[0], 'carol first frame');
      if (first.type === 'welcome') {
        carolWs.send({ type: 'subscribe', conversation: w.group, since_seq: 0 });
        const subErr = await carolWs.next('error', (f) => f.ref === w.group);
        expect(subErr.code).toBe('STORE_UNAVAILABLE');
      } else {
        // The handshake itself needed the store: refused with a reconnect close, not INTERNAL.
        expect(first).toMatchObject({ type: 'error', code: 'STORE_UNAVAILABLE' });
        expect((await carolWs.waitClosed()).code).toBe(4003);
      }
      carolWs.close();
      expect(bob.client?.closed).toBeNull();
      const coldWs = new Client(
        new WebSocket(node.wsUrl, { headers: { authorization: `Bearer ${cold.token.alice}` } }),
      );
      const refused = await coldWs.next('error');
      expect(refused.code).toBe('STORE_UNAVAILABLE'); // not UNAUTHENTICATED: the token is fine
      expect((await coldWs.waitClosed()).code).toBe(4003); // reconnect with backoff

      // SSE: the stream opens (nothing before it needed the store), the conversation reports it.
      const sse = new AbortController();
      const stream = await fetch(`${node.url}/v1/sse?conversations=${w.group}`, {
        headers: { authorization: `Bearer ${w.token.bob}` },
        signal: sse.signal,
      });
      expect(stream.status).toBe(200);
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      while (!text.includes('STORE_UNAVAILABLE')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      sse.abort();
      expect(text).toMatch(/"type":"error","code":"STORE_UNAVAILABLE"/);

      // Keep it down for several seconds while the senders keep retrying.
      const before = traffic.unavailable.length;
      await waitFor(
        () => Date.now() - downAt >= 3_000 && traffic.unavailable.length > before,
        10_000,
        'seconds of outage with retrying senders',
      );
    } finally {
      await bed.pg.up();
    }
    await readyz(node.url, 200);
    await traffic.progress(20);
    // The WebSocket send is retried with the same client_id, as the SDK's outbox does.
    bob.client?.send({ type: 'send', conversation: w.group, client_id: 'ws-outage', body: 'over ws' });
    const ack = await bob.client?.next('ack', (f) => f.client_id === 'ws-outage');
    traffic.acked.set('ws-outage', ack?.seq as number);
    const carol = await follower(w, 'carol'); // catch-up from zero after the outage
    await deliveredLive(traffic, bob, w);
    await traffic.stop();
    await expectInvariants(bed, w, traffic, [bob, carol]);
  });
});

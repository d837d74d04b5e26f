// Gateway metrics that need a reader held back or a bus that loses messages, on both
// stores, over real sockets: a paused reader's queue shows in the per-socket histogram,
// typing to it is dropped and receipts coalesced (exactly one each), and a resync after a
// bus loss is one catch-up of exactly the events it read. Each gateway here has its own
// registry (the host's /metrics serves the host's gateway, metrics.test.ts).
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/port.ts';
import { execute } from '../../src/domain/commands.ts';
import {
  aliceBobGroup,
  connect,
  type Node,
  published,
  startNode,
  subscribe,
  until,
} from '../gateway/harness.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { delta, value } from './prom.ts';

/** The node's bus with a switch: while down, deliveries are lost; up() fires onResync (as Redis does). */
function flakyBus(inner: Bus) {
  let down = false;
  const listeners = new Set<() => void>();
  const bus: Bus = {
    kind: inner.kind,
    publish: (topic, payload) => inner.publish(topic, payload),
    publishMany: (messages) => inner.publishMany(messages),
    subscribe: (topic, handler) =>
      inner.subscribe(topic, (payload, t) => {
        if (!down) handler(payload, t);
      }),
    onResync(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    healthy: () => !down,
    close: async () => {},
  };
  return {
    bus,
    down: () => {
      down = true;
    },
    up: () => {
      down = false;
      for (const l of [...listeners]) l();
    },
  };
}

describe.each(backends())('gateway metrics under backpressure and bus loss (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(store.db, {}, { maxBodyBytes: 64 * 1024 });
  }, 60_000);
  afterAll(async () => {
    await node?.close();
    await store?.close();
  });

  it('a paused reader: its queue in the histogram, typing dropped once, a receipt coalesced once', async () => {
    const registry = new Registry();
    const gw = await node.serve({
      softMarkBytes: 64 * 1024,
      hardMarkBytes: 64 * 1024 * 1024,
      closeGraceMs: 60_000,
      metrics: { registry },
    });
    const scrape = () => registry.metrics();
    const { tenant, id } = await aliceBobGroup(node);
    const bob = await connect(gw, await node.token(tenant, 'bob'));
    await subscribe(bob, id);
    const alice = await connect(gw, await node.token(tenant, 'alice'));
    await subscribe(alice, id);
    bob.ws.pause(); // Stop reading: the kernel buffers fill, then the gateway's queue.
    const body = 'x'.repeat(60 * 1024);
    let seq = 0;
    await until(
      async () => {
        const r = await execute(node.herald.deps, tenant, {
          kind: 'GroupMessage',
          sender: 'alice',
          conversation: id,
          input: { body },
        });
        seq = r.message.seq;
        await published(store.db, tenant);
        return gw.gateway.core.degraded.size > 0;
      },
      'the paused reader to pass the soft mark',
      60_000,
    );
    const s0 = await scrape();
    // Two sockets; bob's queue is past the soft mark, alice's is drained.
    expect(value(s0, 'herald_gateway_socket_queue_bytes_count')).toBe(2);
    expect(value(s0, 'herald_gateway_socket_queue_bytes_bucket', { le: '65536' })).toBe(1);
    expect(value(s0, 'herald_gateway_socket_queue_bytes_sum')).toBeGreaterThan(64 * 1024);

    alice.send({ type: 'typing', conversation: id });
    const s1 = await until(async () => {
      const s = await scrape();
      return delta(s0, s, 'herald_gateway_frames_dropped_total', { priority: 'typing' }) === 1 ? s : null;
    }, 'the typing frame shed');
    // Bob reads (his socket still sends): the receipt goes to the room, his own queue included.
    bob.send({ type: 'read', conversation: id, seq });
    await alice.next('receipt', (f) => f.user_id === 'bob' && f.seq === seq);
    const s2 = await until(async () => {
      const s = await scrape();
      return delta(s1, s, 'herald_gateway_frames_coalesced_total', { priority: 'receipt' }) === 1 ? s : null;
    }, 'the receipt coalesced');
    expect(delta(s0, s2, 'herald_gateway_frames_dropped_total')).toBe(1);
    expect(delta(s0, s2, 'herald_gateway_frames_coalesced_total')).toBe(1);

    // Reading again: the coalesced receipt arrives, nothing more is counted.
    bob.ws.resume();
    await bob.next('receipt', (f) => f.user_id === 'bob' && f.seq === seq, 30_000);
    const s3 = await scrape();
    expect(delta(s2, s3, 'herald_gateway_frames_coalesced_total')).toBe(0);
    expect(delta(s2, s3, 'herald_gateway_frames_dropped_total')).toBe(0);
    bob.close();
    alice.close();
    await gw.close();
  }, 120_000);

  it('a resync after a bus loss is one catch-up of exactly the events it read', async () => {
    const registry = new Registry();
    const flaky = flakyBus(node.herald.bus);
    const gw = await node.serve({ bus: flaky.bus, metrics: { registry } });
    const { tenant, id } = await aliceBobGroup(node);
    const bob = await connect(gw, await node.token(tenant, 'bob'));
    await subscribe(bob, id);
    const s0 = await registry.metrics();
    flaky.down();
    for (const b of ['lost 1', 'lost 2'])
      await execute(node.herald.deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body: b },
      });
    await published(store.db, tenant);
    expect(bob.seqs(id)).toEqual([]);
    flaky.up();
    await until(() => bob.seqs(id).length === 2, 'the resynced events');
    const s1 = await until(async () => {
      const s = await registry.metrics();
      return delta(s0, s, 'herald_gateway_catchup_events_count', { kind: 'resync' }) === 1 ? s : null;
    }, 'the resync catch-up');
    expect(delta(s0, s1, 'herald_gateway_catchup_events_sum', { kind: 'resync' })).toBe(2);
    expect(delta(s0, s1, 'herald_gateway_catchup_duration_seconds_count', { kind: 'resync' })).toBe(1);
    expect(delta(s0, s1, 'herald_gateway_catchup_events_count', { kind: 'subscribe' })).toBe(0);
    bob.close();
    await gw.close();
  });
});

// Backpressure and lifecycle: a paused reader is degraded, then closed as a
// slow consumer and recovers everything on resume; drain; token expiry; idle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { execute } from '../../src/domain/commands.ts';
import { CLOSE } from '../../src/protocol/close-codes.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import {
  aliceBobGroup,
  Client,
  connect,
  type Node,
  published,
  startNode,
  subscribe,
  until,
} from './harness.ts';

describe.each(backends())('gateway backpressure and lifecycle (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(
      store.db,
      { softMarkBytes: 64 * 1024, hardMarkBytes: 512 * 1024, closeGraceMs: 30_000 },
      { maxBodyBytes: 64 * 1024, replayLimit: 2000 },
    );
  });
  afterAll(async () => {
    await node?.close();
    await store?.close();
  });

  const group = () => aliceBobGroup(node);

  it('a paused reader gets degraded, then SLOW_CONSUMER, and recovers everything after reconnect', async () => {
    const { tenant, id } = await group();
    const deps = node.herald.deps;
    const b = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(b, id, 0);
    await until(() => b.seqs(id).length === 1, 'the created event');
    b.ws.pause(); // Stop reading: the kernel buffers fill, then the gateway's queue.
    const slowBefore = node.gateway.metrics().slowConsumers;
    const body = 'x'.repeat(32 * 1024);
    let sent = 0;
    while (node.gateway.metrics().slowConsumers === slowBefore && sent < 2000) {
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body },
      });
      sent++;
      if (sent % 10 === 0) {
        // Ephemeral frames meanwhile: shed first once degraded.
        await node.herald.bus.publish(
          `t:${tenant}:e:${id}`,
          JSON.stringify({ type: 'typing', conversation: id, user_id: 'alice', ttl_ms: 3000 }),
        );
        await published(store.db, tenant);
      }
    }
    expect(node.gateway.metrics().slowConsumers).toBeGreaterThan(slowBefore);
    expect(node.gateway.metrics().framesDropped.typing ?? 0).toBeGreaterThan(0);
    // Messages keep flowing for everyone else; bob resumes reading.
    for (let i = 0; i < 3; i++) {
      await execute(deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body: `after ${i}` },
      });
    }
    b.ws.resume();
    const closed = await b.waitClosed(30_000);
    expect(closed.code).toBe(CLOSE.SLOW_CONSUMER);
    expect(b.of('degraded')).toEqual([{ type: 'degraded', reason: 'backpressure' }]);
    const seen = b.seqs(id);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1)); // a prefix, no hole

    await published(store.db, tenant);
    const c = await connect(node, await node.token(tenant, 'bob'));
    const sub = await subscribe(c, id, seen.at(-1));
    expect(sub.complete).toBe(true);
    await until(() => c.seqs(id).at(-1) === sub.head_seq, 'the rest', 30_000);
    expect([...seen, ...c.seqs(id)]).toEqual(Array.from({ length: sub.head_seq }, (_, i) => i + 1));
    c.close();
  });

  it('a replay larger than the hard mark is paced by the reader, not closed', async () => {
    const { tenant, id } = await group();
    const body = 'y'.repeat(32 * 1024);
    for (let i = 0; i < 40; i++) {
      await execute(node.herald.deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body },
      });
    }
    await published(store.db, tenant);
    const c = await connect(node, await node.token(tenant, 'bob'));
    const sub = await subscribe(c, id, 0);
    expect(sub).toMatchObject({ replayed: 41, complete: true });
    await until(() => c.seqs(id).length === 41, 'the whole replay', 30_000);
    expect(c.seqs(id)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(c.closed).toBeNull();
    c.close();
  });

  it('drain sends drain to every socket, refuses new ones, then closes with DRAIN', async () => {
    const { tenant, id } = await group();
    const served = await node.serve({ drainJitterMs: 5_000 });
    const clients = await Promise.all(
      ['alice', 'bob', 'bob'].map(async (u) => connect(served, await node.token(tenant, u))),
    );
    await subscribe(clients[0], id);
    const draining = served.gateway.drain({ graceMs: 300 });
    for (const c of clients) {
      const d = await c.next('drain');
      expect(d.reconnect_after_ms).toBeGreaterThanOrEqual(0);
      expect(d.reconnect_after_ms).toBeLessThan(5_000);
    }
    const late = new Client(
      new WebSocket(served.url, { headers: { authorization: `Bearer ${await node.token(tenant, 'bob')}` } }),
    );
    await until(() => late.unexpected, 'the refused upgrade');
    expect(late.unexpected?.status).toBe(503);
    await draining;
    for (const c of clients) {
      expect((await c.waitClosed()).code).toBe(CLOSE.DRAIN);
      // drain came before the close.
      expect(c.frames.findIndex((f) => f.type === 'drain')).toBeGreaterThan(-1);
    }
    expect(served.gateway.connectionCount).toBe(0);
  });

  it('token_expiring is hinted before exp, then the socket closes with TOKEN_EXPIRED', async () => {
    const { tenant } = await group();
    const served = await node.serve({ tokenExpiringLeadMs: 1_500 });
    const c = await connect(served, await node.token(tenant, 'bob', 2));
    const hint = await c.next('token_expiring', undefined, 5_000);
    expect(hint.expires_at).toBe(c.of('welcome')[0].expires_at);
    expect((await c.waitClosed(5_000)).code).toBe(CLOSE.TOKEN_EXPIRED);
    // Re-auth on a live socket must keep the same user.
    const d = await connect(served, await node.token(tenant, 'bob'));
    d.send({ type: 'auth', token: await node.token(tenant, 'alice') });
    expect(await d.next('error')).toMatchObject({ code: 'FORBIDDEN' });
    d.close();
  });

  it('server pings; a silent socket is closed with IDLE_TIMEOUT', async () => {
    const { tenant } = await group();
    const served = await node.serve({ pingIntervalMs: 100, idleTimeoutMs: 400 });
    const alive = await connect(served, await node.token(tenant, 'alice'));
    const token = await node.token(tenant, 'bob');
    const silent = new Client(
      new WebSocket(served.url, { headers: { authorization: `Bearer ${token}` }, autoPong: false }),
    );
    await silent.next('welcome');
    expect((await silent.waitClosed()).code).toBe(CLOSE.IDLE_TIMEOUT);
    // The auto-ponging client stays.
    alive.send({ type: 'ping' });
    await alive.next('pong');
    expect(alive.closed).toBeNull();
    alive.close();
  });
});

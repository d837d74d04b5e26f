// Backpressure and lifecycle: a paused reader is degraded, then cut as a slow
// consumer — the backlog dropped and the reason sent ahead of it, on WebSocket and
// SSE — and recovers everything on resume; a reader that never reads again is
// destroyed after the grace; drain; token expiry; idle.
import { type IncomingMessage, request } from 'node:http';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { execute } from '../../src/domain/commands.ts';
import type { Gateway } from '../../src/gateway/gateway.ts';
import { sseRoutes } from '../../src/gateway/sse.ts';
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

  /** Sends 60 KiB messages until `gw` cuts a slow consumer; returns how many were sent. */
  async function pumpUntilCut(gw: Gateway, tenant: string, id: string): Promise<number> {
    const before = gw.metrics().slowConsumers;
    const body = 'x'.repeat(60 * 1024);
    let sent = 0;
    while (gw.metrics().slowConsumers === before) {
      if (sent >= 2000) throw new Error('no slow-consumer cut after 2000 messages');
      await execute(node.herald.deps, tenant, {
        kind: 'GroupMessage',
        sender: 'alice',
        conversation: id,
        input: { body },
      });
      sent++;
      if (sent % 20 === 0) await published(store.db, tenant);
    }
    return sent;
  }

  /** Resubscribes from `after` on a fresh socket and returns the seqs it gets up to the head. */
  async function resume(tenant: string, id: string, after: number): Promise<number[]> {
    await published(store.db, tenant);
    const c = await connect(node, await node.token(tenant, 'bob'));
    const sub = await subscribe(c, id, after);
    await until(() => (c.seqs(id).at(-1) ?? after) === sub.head_seq, 'the rest', 30_000);
    c.close();
    return [...Array.from({ length: after }, (_, i) => i + 1), ...c.seqs(id)].slice(0, sub.head_seq);
  }

  it('a paused reader gets degraded, then SLOW_CONSUMER, and recovers everything after reconnect', async () => {
    const { tenant, id } = await group();
    const deps = node.herald.deps;
    const b = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(b, id, 0);
    await until(() => b.seqs(id).length === 1, 'the created event');
    b.ws.pause(); // Stop reading: the kernel buffers fill, then the gateway's queue.
    const slowBefore = node.gateway.metrics().slowConsumers;
    const discardedBefore = node.gateway.metrics().slowConsumerDiscardedBytes;
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
    // The queued backlog was dropped so that the close could overtake it.
    expect(node.gateway.metrics().slowConsumerDiscardedBytes).toBeGreaterThan(discardedBefore);
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

  it('a reader that never reads again is destroyed after the close grace: it sees 1006 and resumes', async () => {
    const { tenant, id } = await group();
    const served = await node.serve({
      softMarkBytes: 64 * 1024,
      hardMarkBytes: 512 * 1024,
      closeGraceMs: 500,
    });
    const b = await connect(served, await node.token(tenant, 'bob'));
    await subscribe(b, id, 0);
    await until(() => b.seqs(id).length === 1, 'the created event');
    b.ws.pause();
    await pumpUntilCut(served.gateway, tenant, id);
    // The session goes when its socket is destroyed, after the grace: nothing waits on the reader.
    await until(() => served.gateway.connectionCount === 0, 'the socket to be destroyed', 10_000);
    b.ws.resume();
    // What the kernel held arrives, ending mid-frame: no close frame could get through.
    expect((await b.waitClosed(10_000)).code).toBe(1006);
    const seen = b.seqs(id);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
    const all = await resume(tenant, id, seen.length);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  });

  it('an SSE reader cut as a slow consumer gets event: close ahead of the dropped backlog', async () => {
    const { tenant, id } = await group();
    const served = await node.serve({
      softMarkBytes: 64 * 1024,
      hardMarkBytes: 512 * 1024,
      closeGraceMs: 30_000,
    });
    const app = Fastify();
    await app.register(sseRoutes, { gateway: served.gateway });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const token = await node.token(tenant, 'bob');
      let text = '';
      let ended = false;
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(`${base}/v1/sse?conversations=${id}&since_seq=0&access_token=${token}`, resolve);
        req.on('error', reject);
        req.end();
      });
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => {
        ended = true;
      });
      res.on('error', () => {});
      await until(() => text.includes('"seq":1,'), 'the created event');
      res.pause(); // Stop reading: the kernel buffers fill, then the stream's queue.
      const discarded = served.gateway.metrics().slowConsumerDiscardedBytes;
      await pumpUntilCut(served.gateway, tenant, id);
      expect(served.gateway.metrics().slowConsumerDiscardedBytes).toBeGreaterThan(discarded);
      // Back within the grace: what was in flight, then the reason, then the end of the stream.
      res.resume();
      await until(() => ended, 'the end of the stream', 30_000);
      const blocks = text.split('\n\n').filter((b) => b.length > 0);
      expect(blocks.at(-1)).toBe('event: close\ndata: {"code":4001,"reason":"slow consumer"}');
      expect(blocks.filter((b) => b.includes('"type":"degraded"'))).toHaveLength(1);
      const seqs = blocks
        .filter((b) => b.includes('data: {"type":"event"'))
        .map((b) => (JSON.parse(b.slice(b.indexOf('data: ') + 6)) as { seq: number }).seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1)); // a prefix, no hole
      const all = await resume(tenant, id, seqs.length);
      expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    } finally {
      await app.close();
    }
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

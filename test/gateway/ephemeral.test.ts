// Typing and presence: ephemeral, never in PostgreSQL, driven by an injected clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { aliceBobGroup, connect, type Node, startNode, subscribe, until } from './harness.ts';

describe.each(backends())('gateway typing and presence (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  let now = Date.now();
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(store.db, { now: () => now, presenceFlushMs: 50 });
  });
  afterAll(async () => {
    await node?.close();
    await store?.close();
  });

  const group = () => aliceBobGroup(node);

  it('typing arrives at the others (not the typist) and expires after ~3 s', async () => {
    const { tenant, id } = await group();
    const before = await store.db.query('SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1', [
      tenant,
    ]);
    const a = await connect(node, await node.token(tenant, 'alice'));
    const b = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(a, id);
    await subscribe(b, id);
    a.send({ type: 'typing', conversation: id });
    const t = await b.next('typing');
    expect(t).toEqual({ type: 'typing', conversation: id, user_id: 'alice', ttl_ms: 3000 });
    expect(await node.gateway.typingIn(tenant, id)).toEqual(['alice']);
    a.send({ type: 'ping' });
    await a.next('pong');
    expect(a.of('typing')).toEqual([]);
    now += 3_001;
    expect(await node.gateway.typingIn(tenant, id)).toEqual([]);
    // Typing never touched PostgreSQL.
    const after = await store.db.query('SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1', [
      tenant,
    ]);
    expect(after.rows).toEqual(before.rows);
    // Typing into a conversation one has not subscribed to is refused.
    b.send({ type: 'unsubscribe', conversation: id });
    b.send({ type: 'typing', conversation: id });
    expect(await b.next('error', (f) => f.ref === id)).toMatchObject({ code: 'BAD_REQUEST' });
    a.close();
    b.close();
  });

  it('presence appears, changes, survives a bare disconnect and ages out by score', async () => {
    const { tenant, id } = await group();
    const a = await connect(node, await node.token(tenant, 'alice'), { query: { device_id: 'alice-phone' } });
    await subscribe(a, id);
    const b = await connect(node, await node.token(tenant, 'bob'));
    await subscribe(b, id);
    // A snapshot of the room on subscribe.
    const snap = await b.next('presence', (f) =>
      f.entries.some((e: { user_id: string }) => e.user_id === 'alice'),
    );
    expect(snap.conversation).toBe(id);
    expect(snap.entries.find((e: { user_id: string }) => e.user_id === 'alice')).toMatchObject({
      device_id: 'alice-phone',
      status: 'active',
    });
    // A status change is batched and delivered to the room.
    a.send({ type: 'heartbeat', status: 'idle', resource: 'ios' });
    await b.next('presence', (f) =>
      f.entries.some(
        (e: { user_id: string; status: string }) => e.user_id === 'alice' && e.status === 'idle',
      ),
    );
    expect((await node.gateway.presenceOf(tenant, id)).find((e) => e.user_id === 'alice')).toMatchObject({
      status: 'idle',
      resource: 'ios',
    });
    // Disconnect alone is not trusted: alice stays present until her score ages out.
    a.close();
    await a.waitClosed();
    now += 60_000;
    b.send({ type: 'heartbeat' });
    expect((await node.gateway.presenceOf(tenant, id)).map((e) => e.user_id).sort()).toEqual([
      'alice',
      'bob',
    ]);
    now += 31_000;
    const gone = await b.next('presence', (f) =>
      f.entries.some(
        (e: { user_id: string; status: string }) => e.user_id === 'alice' && e.status === 'offline',
      ),
    );
    expect(gone.conversation).toBe(id);
    expect((await node.gateway.presenceOf(tenant, id)).map((e) => e.user_id)).toEqual(['bob']);
    b.close();
  });

  it('rooms above presenceSnapshotMax exchange no presence (it would cost O(members²))', async () => {
    const { tenant, id } = await group(); // 2 members
    const small = await node.serve({ now: () => now, presenceFlushMs: 50, presenceSnapshotMax: 1 });
    const a = await connect(small, await node.token(tenant, 'alice'));
    const b = await connect(small, await node.token(tenant, 'bob'));
    await subscribe(a, id);
    await subscribe(b, id);
    a.send({ type: 'heartbeat', status: 'idle' });
    b.send({ type: 'heartbeat', status: 'idle' });
    // Several flush periods pass; typing (same ephemeral topic) still flows.
    await new Promise((r) => setTimeout(r, 300));
    a.send({ type: 'typing', conversation: id });
    await b.next('typing');
    expect(a.of('presence')).toEqual([]);
    expect(b.of('presence')).toEqual([]);
    a.close();
    b.close();
  });

  it("a room's new subscribers share one presence snapshot until the room's next presence frame", async () => {
    const { tenant, id } = await group();
    // No timer-driven flush during the test: the flush below is the room's next presence frame.
    const g = await node.serve({ now: () => now, presenceFlushMs: 600_000 });
    const memberReads: string[] = [];
    store.db.onQuery((text) => {
      if (/^SELECT user_id FROM members/.test(text)) memberReads.push(text);
    });
    try {
      const a1 = await connect(g, await node.token(tenant, 'alice'), { query: { device_id: 'a1' } });
      await subscribe(a1, id);
      await a1.next('presence', (f) => f.entries.some((e: { device_id: string }) => e.device_id === 'a1'));
      const a2 = await connect(g, await node.token(tenant, 'alice'), { query: { device_id: 'a2' } });
      await subscribe(a2, id);
      // The shared snapshot predates a2's own heartbeat: it shows a1.
      await a2.next('presence', (f) => f.entries.some((e: { device_id: string }) => e.device_id === 'a1'));
      expect(memberReads).toHaveLength(1);
      // The room's next presence frame (a1 and a2 announced) evicts it; it reaches both live.
      await g.gateway.core.flushPresence();
      await a1.next('presence', (f) => f.entries.some((e: { device_id: string }) => e.device_id === 'a2'));
      const b = await connect(g, await node.token(tenant, 'bob'), { query: { device_id: 'b1' } });
      await subscribe(b, id);
      // A fresh read after the frame: both of alice's devices.
      const snap = await b.next('presence', (f) =>
        f.entries.some((e: { device_id: string }) => e.device_id === 'a2'),
      );
      expect(snap.entries.map((e: { device_id: string }) => e.device_id)).toEqual(
        expect.arrayContaining(['a1', 'a2']),
      );
      expect(memberReads).toHaveLength(2);
      a1.close();
      a2.close();
      b.close();
    } finally {
      store.db.onQuery(null);
    }
  });

  it('the connection registry knows which node holds a user', async () => {
    const { tenant } = await group();
    const a = await connect(node, await node.token(tenant, 'alice'));
    const entries = await until(async () => {
      const e = await node.gateway.core.connections.ofUser(tenant, 'alice', now);
      return e.length ? e : null;
    }, 'registry entry');
    expect(entries[0]).toMatchObject({ user_id: 'alice', node_id: node.gateway.core.opts.nodeId });
    a.close();
    await until(
      async () => (await node.gateway.core.connections.ofUser(tenant, 'alice', now)).length === 0,
      'unregister',
    );
  });
});

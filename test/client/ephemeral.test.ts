// Typing, presence, view, heartbeats, notices and receipts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeServer, waitFor } from './fake-server.ts';
import { barrierNotice, disconnectAll, ManualTimers, makeClient } from './helpers.ts';

let server: FakeServer;
let timers: ManualTimers;
beforeEach(async () => {
  server = await FakeServer.start({ heartbeatMs: 30_000 });
  timers = new ManualTimers();
});
afterEach(async () => {
  disconnectAll();
  await server.close();
});

async function barrier(client: ReturnType<typeof makeClient>) {
  server.last.send({ type: 'notice', notice: barrierNotice() });
  await new Promise((r) => client.once('notice', r));
}

describe('typing', () => {
  it('sends at most one typing frame per conversation per 2 s', async () => {
    const client = makeClient(server, { timers });
    const rooms = [client.open('c1', { sinceSeq: 0 }), client.open('c2', { sinceSeq: 0 })];
    client.connect();
    await client.ready();
    await waitFor(() => rooms.every((r) => r.status === 'subscribed'), 'subscribed');
    expect(client.typing('c1')).toBe(true);
    expect(client.typing('c1')).toBe(false);
    expect(client.typing('c2')).toBe(true);
    timers.advance(1999);
    expect(client.typing('c1')).toBe(false);
    timers.advance(1);
    expect(client.typing('c1')).toBe(true);
    await waitFor(() => server.last.framesOf('typing').length === 3, 'frames');
    expect(server.last.framesOf('typing').map((f) => f.conversation)).toEqual(['c1', 'c2', 'c1']);
  });

  it('goes out only once the subscribe is confirmed on this connection (the gateway refuses typing before)', async () => {
    // Found by the chaos test: right after a (re)connect the resubscribe was still queued or
    // unanswered, typing went first, and the gateway answered BAD_REQUEST.
    let hold = true;
    server.onFrame = (_conn, f) => f.type === 'subscribe' && hold;
    const client = makeClient(server, { timers });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const room = client.open('c1', { sinceSeq: 0 });
    client.connect();
    await client.ready();
    await server.last.waitForFrame('subscribe');
    expect(client.typing('c1')).toBe(false);
    expect(client.typing('not-open')).toBe(false);
    server.last.send({ type: 'subscribed', conversation: 'c1', head_seq: 0, replayed: 0, complete: true });
    await waitFor(() => room.status === 'subscribed', 'subscribed');
    expect(client.typing('c1')).toBe(true);
    const first = server.last;
    await first.waitForFrame('typing');

    // A new connection: the old subscription's status says nothing until the resubscribe is answered.
    first.terminate();
    await waitFor(() => client.state === 'reconnecting', 'reconnecting');
    timers.advance(2000); // the backoff, and past the typing throttle
    await waitFor(() => server.last !== first && client.state === 'connected', 'reconnected');
    await server.last.waitForFrame('subscribe');
    expect(client.typing('c1')).toBe(false);
    hold = false;
    server.last.send({ type: 'subscribed', conversation: 'c1', head_seq: 0, replayed: 0, complete: true });
    await waitFor(() => room.status === 'subscribed', 'resubscribed');
    expect(client.typing('c1')).toBe(true);
    await server.last.waitForFrame('typing');
    expect(errors).toEqual([]);
  });

  it('incoming indicators expire after ~3 s unless refreshed; own typing is ignored', async () => {
    const client = makeClient(server, { timers });
    const seen: string[][] = [];
    client.on('typing', (t) => seen.push(t.users));
    client.connect();
    await client.ready();
    server.last.send({ type: 'typing', conversation: 'c1', user_id: 'u2', ttl_ms: 3000 });
    server.last.send({ type: 'typing', conversation: 'c1', user_id: server.userId, ttl_ms: 3000 });
    await barrier(client);
    expect(client.typingUsers('c1')).toEqual(['u2']);
    timers.advance(2000);
    server.last.send({ type: 'typing', conversation: 'c1', user_id: 'u2', ttl_ms: 3000 }); // refresh
    await barrier(client);
    timers.advance(2999);
    expect(client.typingUsers('c1')).toEqual(['u2']);
    timers.advance(1);
    expect(client.typingUsers('c1')).toEqual([]);
    expect(seen).toEqual([['u2'], []]);
  });

  it("the server's ttl_ms sets how long an indicator lives", async () => {
    const client = makeClient(server, { timers });
    client.connect();
    await client.ready();
    server.last.send({ type: 'typing', conversation: 'c1', user_id: 'u2', ttl_ms: 5000 });
    await barrier(client);
    timers.advance(4999);
    expect(client.typingUsers('c1')).toEqual(['u2']);
    timers.advance(1);
    expect(client.typingUsers('c1')).toEqual([]);
  });

  it('a message from the typist clears their indicator', async () => {
    const client = makeClient(server, { timers });
    const sub = client.open('c1', { sinceSeq: 0 });
    client.connect();
    await client.ready();
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    server.last.send({ type: 'typing', conversation: 'c1', user_id: 'u-other', ttl_ms: 3000 });
    await barrier(client);
    expect(client.typingUsers('c1')).toEqual(['u-other']);
    server.append('c1', 'done typing'); // sender u-other
    await waitFor(() => sub.lastSeq === 1, 'message');
    expect(client.typingUsers('c1')).toEqual([]);
  });
});

describe('presence, view and heartbeats', () => {
  it('stores presence frames per room and emits them', async () => {
    const client = makeClient(server, { timers });
    client.connect();
    await client.ready();
    const entry = {
      user_id: 'u2',
      device_id: 'd',
      status: 'active' as const,
      resource: null,
      last_seen_ms: 1,
    };
    server.last.send({ type: 'presence', conversation: 'c1', entries: [entry] });
    const got = await new Promise((r) => client.once('presence', r));
    expect(got).toEqual({ conversation: 'c1', entries: [entry] });
    expect(client.presence('c1')).toEqual([entry]);
    expect(client.presence()).toEqual([]);
  });

  it('merges presence deltas into the subscribe snapshot per user_id+device_id; offline drops a device', async () => {
    const client = makeClient(server, { timers });
    const sub = client.open('c1', { sinceSeq: 0 });
    client.connect();
    await client.ready();
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    const p = (user_id: string, device_id: string, status: 'active' | 'idle' | 'offline', at = 1) => ({
      user_id,
      device_id,
      status,
      resource: null,
      last_seen_ms: at,
    });
    // The snapshot the gateway sends on subscribe, then deltas batched per room.
    server.last.send({
      type: 'presence',
      conversation: 'c1',
      entries: [p('ann', 'd1', 'active'), p('ann', 'd2', 'active'), p('bob', 'd1', 'active')],
    });
    server.last.send({ type: 'presence', conversation: 'c1', entries: [p('ann', 'd1', 'idle', 2)] });
    await barrier(client);
    const state = () =>
      client
        .presence('c1')
        .map((e) => `${e.user_id}/${e.device_id}:${e.status}`)
        .sort();
    expect(state()).toEqual(['ann/d1:idle', 'ann/d2:active', 'bob/d1:active']);
    // One batch may carry several devices; `offline` means that device left.
    server.last.send({
      type: 'presence',
      conversation: 'c1',
      entries: [p('ann', 'd2', 'offline', 3), p('cid', 'd9', 'active', 3)],
    });
    // Another room's deltas stay in that room.
    server.last.send({ type: 'presence', conversation: 'c2', entries: [p('bob', 'd1', 'offline', 3)] });
    await barrier(client);
    expect(state()).toEqual(['ann/d1:idle', 'bob/d1:active', 'cid/d9:active']);
    expect(client.presence('c2')).toEqual([]);
    // The event still carries what the frame said (the change), not the merged room.
    const got = new Promise((r) => client.once('presence', r));
    server.last.send({ type: 'presence', conversation: 'c1', entries: [p('bob', 'd1', 'offline', 4)] });
    expect(await got).toEqual({ conversation: 'c1', entries: [p('bob', 'd1', 'offline', 4)] });
    expect(state()).toEqual(['ann/d1:idle', 'cid/d9:active']);
    // Closing the conversation forgets its presence.
    sub.close();
    expect(client.presence('c1')).toEqual([]);
  });

  it('forgets presence on a new connection: the resubscribe snapshot starts the room over', async () => {
    const client = makeClient(server);
    client.open('c1', { sinceSeq: 0 });
    client.connect();
    const first = await server.nextConnection();
    await client.ready();
    const stale = {
      user_id: 'ann',
      device_id: 'd1',
      status: 'active' as const,
      resource: null,
      last_seen_ms: 1,
    };
    first.send({ type: 'presence', conversation: 'c1', entries: [stale] });
    await barrier(client);
    expect(client.presence('c1')).toEqual([stale]);
    first.close(4001);
    const second = await server.nextConnection();
    await second.waitForFrame('subscribe');
    await waitFor(() => client.state === 'connected', 'reconnected');
    const fresh = { ...stale, user_id: 'bob', last_seen_ms: 2 };
    second.send({ type: 'presence', conversation: 'c1', entries: [fresh] });
    await barrier(client);
    expect(client.presence('c1')).toEqual([fresh]);
  });

  it('heartbeats on connect and every heartbeat_ms; setStatus sends one at once', async () => {
    const client = makeClient(server, { timers, heartbeat: true });
    client.connect();
    await client.ready();
    await server.last.waitForFrame('heartbeat');
    timers.advance(30_000);
    await waitFor(() => server.last.framesOf('heartbeat').length === 2, 'periodic heartbeat');
    client.setStatus('away', '/inbox');
    await server.last.waitForFrame('heartbeat', (f) => f.status === 'away');
    expect(server.last.framesOf('heartbeat').map((f) => f.status)).toEqual(['active', 'active', 'away']);
    expect(server.last.framesOf('heartbeat').at(-1)?.resource).toBe('/inbox');
  });

  it('view(conversation) is sent and re-sent after a reconnect; view(null) clears it', async () => {
    const client = makeClient(server);
    client.connect();
    const first = await server.nextConnection();
    await client.ready();
    client.view('c1');
    await first.waitForFrame('view');
    first.close(4001);
    const second = await server.nextConnection();
    expect(await second.waitForFrame('view')).toEqual({ type: 'view', conversation: 'c1' });
    await waitFor(() => client.state === 'connected', 'connected');
    client.view(null);
    await second.waitForFrame('view', (f) => f.conversation === null);
  });

  it('a silent socket is detected by ping and replaced', async () => {
    const client = makeClient(server, { timers, pingIntervalMs: 25_000 });
    server.onFrame = (_conn, f) => f.type === 'ping'; // swallow pings: no pong ever
    client.connect();
    const first = await server.nextConnection();
    await client.ready();
    timers.advance(25_000);
    await first.waitForFrame('ping');
    timers.advance(25_000);
    await waitFor(() => client.state === 'reconnecting', 'declared dead');
    timers.advance(1000);
    await server.nextConnection();
    await waitFor(() => first.closed, 'old socket closed');
  });

  it('emits receipts, notices and degraded frames', async () => {
    const client = makeClient(server);
    client.connect();
    await client.ready();
    const receipt = new Promise((r) => client.once('receipt', r));
    const degraded = new Promise((r) => client.once('degraded', r));
    server.last.send({ type: 'receipt', conversation: 'c1', user_id: 'u2', seq: 4 });
    server.last.send({ type: 'degraded', reason: 'backpressure' });
    // A server without delivery receipts: read implies delivered.
    expect(await receipt).toEqual({ conversation: 'c1', user_id: 'u2', seq: 4, delivered_seq: 4 });
    expect(await degraded).toEqual({ reason: 'backpressure' });
  });
});

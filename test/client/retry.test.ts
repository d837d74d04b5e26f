// What the SDK does when the server says "not now": retryable `error` frames
// (sends with the same client_id, subscribes), reads lost with a socket,
// failed inbox/notices syncs after a reconnect, and close 4004.
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE, type HeraldClient } from '../../src/client/index.ts';
import { ERRORS } from '../../src/protocol/errors.ts';
import { errorReply, FakeServer, waitFor } from './fake-server.ts';
import { barrierNotice, disconnectAll, ManualTimers, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  // The catalog test starts no server.
  await server?.close();
});

async function connected(client: HeraldClient) {
  client.connect();
  await client.ready();
}

describe('the catalog says what is retryable', () => {
  it('flags capacity and outage codes, not permanent ones', () => {
    const retryable = Object.entries(ERRORS)
      .filter(([, e]) => e.retryable)
      .map(([code]) => code)
      .sort();
    expect(retryable).toEqual(['NOT_READY', 'RATE_LIMITED', 'STORE_UNAVAILABLE', 'TOO_MANY_CONNECTIONS']);
  });
});

describe('retryable errors', () => {
  it.each(['STORE_UNAVAILABLE', 'RATE_LIMITED'] as const)(
    'a send refused with %s is retried with the same client_id and confirmed once',
    async (code) => {
      server = await FakeServer.start();
      let refused = 0;
      server.onFrame = (conn, f) => {
        if (f.type !== 'send' || refused > 0) return false;
        refused++;
        conn.send({ type: 'error', code, message: code, ref: f.client_id });
        return true;
      };
      const client = makeClient(server);
      const errors: string[] = [];
      client.on('error', (e) => errors.push(e.code));
      await connected(client);
      const m = client.send('c1', 'hello');
      const res = await m.done;
      expect(res.seq).toBe(1);
      const sends = server.last.framesOf('send');
      expect(sends.map((f) => f.client_id)).toEqual([m.client_id, m.client_id]);
      expect(server.countClientId('c1', m.client_id)).toBe(1);
      expect(errors).toEqual([]);
    },
  );

  it('a permanent error (NOT_A_MEMBER, IDEMPOTENCY_KEY_REUSED) still fails the send, without a retry', async () => {
    server = await FakeServer.start();
    server.onFrame = (conn, f) => {
      if (f.type !== 'send') return false;
      const code = f.body === 'a' ? 'NOT_A_MEMBER' : 'IDEMPOTENCY_KEY_REUSED';
      conn.send({ type: 'error', code, message: code, ref: f.client_id });
      return true;
    };
    const client = makeClient(server);
    await connected(client);
    const a = client.send('c1', 'a');
    const b = client.send('c1', 'b');
    await expect(a.done).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    await expect(b.done).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(server.last.framesOf('send')).toHaveLength(2);
  });

  it('a subscribe refused with STORE_UNAVAILABLE is sent again after a delay, then subscribed and live', async () => {
    server = await FakeServer.start();
    server.append('c1', 'one');
    let refused = false;
    server.onFrame = (conn, f) => {
      if (f.type !== 'subscribe' || refused) return false;
      refused = true;
      conn.send({ type: 'error', code: 'STORE_UNAVAILABLE', message: 'db down', ref: f.conversation });
      return true;
    };
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'resubscribed', 3_000);
    await waitFor(() => sub.lastSeq === 1, 'replayed');
    expect(server.last.framesOf('subscribe')).toHaveLength(2);
    server.append('c1', 'two');
    await waitFor(() => sub.lastSeq === 2, 'live after the retry');
    expect(server.connections).toHaveLength(1);
  });
});

describe('view', () => {
  it('a view refused with STORE_UNAVAILABLE is stated again after a delay', async () => {
    server = await FakeServer.start();
    let refused = false;
    server.onFrame = (conn, f) => {
      if (f.type !== 'view' || refused) return false;
      refused = true;
      conn.send({ type: 'error', code: 'STORE_UNAVAILABLE', message: 'db down', ref: f.conversation ?? '' });
      return true;
    };
    const client = makeClient(server);
    await connected(client);
    client.view('c1');
    await server.last.waitForFrame('view');
    await waitFor(() => server.last.framesOf('view').length === 2, 'view stated again', 3_000);
    expect(server.last.framesOf('view')).toEqual([
      { type: 'view', conversation: 'c1' },
      { type: 'view', conversation: 'c1' },
    ]);
  });
});

describe('reads are delivered at least once', () => {
  it('a read written to a socket that then dies is sent again after the reconnect', async () => {
    server = await FakeServer.start();
    server.setInbox('c1', { last_seq: 5, unread_count: 5 });
    let lose = true;
    server.onFrame = (conn, f) => {
      if (f.type !== 'read') return false;
      if (lose) {
        lose = false;
        conn.terminate(); // written by the client, never applied
        return true;
      }
      const entry = server.setInbox('c1', { last_read_seq: f.seq, unread_count: 0 });
      conn.send({ type: 'inbox', entry });
      return true;
    };
    const client = makeClient(server);
    await connected(client);
    await waitFor(() => client.inbox.get('c1')?.unread_count === 5, 'synced');
    const first = server.last;
    client.read('c1', 5);
    expect(client.inbox.get('c1')?.unread_count).toBe(0); // optimistic
    await first.waitForFrame('read');
    const second = await server.nextConnection().then(() => server.nextConnection());
    expect(await second.waitForFrame('read')).toEqual({ type: 'read', conversation: 'c1', seq: 5 });
    await waitFor(() => server.inbox.get('c1')?.last_read_seq === 5, 'server has the read');

    // Reflected by the server: the next reconnect does not send it again.
    second.terminate();
    const third = await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'reconnected');
    third.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(third.framesOf('read')).toEqual([]);
  });

  it('an own receipt or an HTTP read answer settles a pending read', async () => {
    server = await FakeServer.start();
    server.onFrame = (_conn, f) => f.type === 'read'; // swallowed: nothing reflects it
    const client = makeClient(server);
    await connected(client);
    const first = await server.nextConnection();
    client.read('c1', 3);
    client.read('c2', 4);
    await first.waitForFrame('read', (f) => f.conversation === 'c2');
    first.send({ type: 'receipt', conversation: 'c1', user_id: server.userId, seq: 3 });
    await client.http.markRead('c2', 4);
    first.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    first.terminate();
    const second = await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'reconnected');
    second.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(second.framesOf('read')).toEqual([]);
  });
});

describe('syncs after a reconnect are retried', () => {
  it.each(['inbox', 'notices'] as const)(
    'a failing %s sync is retried with backoff until it succeeds',
    async (which) => {
      server = await FakeServer.start();
      const path = `/v1/${which}`;
      let failures = 0;
      server.onHttp = (req) => {
        if (req.path !== path || failures >= 2) return undefined;
        failures++;
        return errorReply(503, 'STORE_UNAVAILABLE');
      };
      if (which === 'inbox') server.setInbox('c1', { unread_count: 2 });
      else server.setNotice('n1');
      const client = makeClient(server);
      const errors: string[] = [];
      client.on('error', (e) => errors.push(e.code));
      await connected(client);
      await waitFor(
        () => (which === 'inbox' ? client.inbox.synced : client.notices.synced),
        `${which} synced after retries`,
        5_000,
      );
      expect(server.requests.filter((r) => r.path === path)).toHaveLength(3);
      expect(errors).toEqual(['STORE_UNAVAILABLE', 'STORE_UNAVAILABLE']);
    },
  );

  it('retries wait on a full-jitter backoff and leave no timer after disconnect()', async () => {
    const timers = new ManualTimers();
    server = await FakeServer.start();
    server.onHttp = (req) => (req.path === '/v1/inbox' ? errorReply(503, 'STORE_UNAVAILABLE') : undefined);
    const client = makeClient(server, { timers, notices: false, random: () => 0.5 });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    client.connect();
    await waitFor(() => errors.length === 1, 'first failure');
    // backoff {baseMs: 20, maxMs: 100}: attempt 0 waits 0.5 × 20 ms.
    expect(timers.pending()).toContain(10);
    timers.advance(10);
    await waitFor(() => errors.length === 2, 'second failure');
    expect(timers.pending()).toContain(20);
    client.disconnect();
    expect(timers.pending()).toEqual([]);
  });
});

describe('close 4004 TOO_MANY_CONNECTIONS', () => {
  it('reconnects after a long backoff', async () => {
    server = await FakeServer.start();
    const client = makeClient(server, { random: () => 0 });
    const delays: number[] = [];
    client.on('state', (s) => {
      if (s.to === 'reconnecting' && s.closeCode === CLOSE.TOO_MANY_CONNECTIONS) delays.push(s.delayMs ?? -1);
    });
    await connected(client);
    server.last.close(CLOSE.TOO_MANY_CONNECTIONS, 'too many');
    await server.nextConnection().then(() => server.nextConnection());
    await waitFor(() => client.state === 'connected', 'reconnected');
    // backoff {baseMs: 20, maxMs: 100}: the long window is the cap, and the delay at least half of it
    // (a normal close with random() = 0 would redial at once).
    expect(delays).toEqual([50]);
  });
});

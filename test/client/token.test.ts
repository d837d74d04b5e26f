// Token lifecycle: renewal before expiry (welcome.expires_at, token_expiring),
// CLOSE.TOKEN_EXPIRED → refresh callback → reconnect, HTTP 401 retry.
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE, type TokenRequest } from '../../src/client/index.ts';
import { type FakeConnection, FakeServer, waitFor } from './fake-server.ts';
import { disconnectAll, ManualTimers, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  await server.close();
});

function tokenSource() {
  const calls: TokenRequest['reason'][] = [];
  let n = 1;
  return {
    calls,
    getToken: async (req: TokenRequest) => {
      calls.push(req.reason);
      n++;
      return `tok-${n}`;
    },
  };
}

describe('token refresh', () => {
  it('token_expiring → callback → the new token goes to the live socket (auth frame), no reconnect', async () => {
    server = await FakeServer.start();
    const src = tokenSource();
    const client = makeClient(server, { getToken: src.getToken });
    const states: string[] = [];
    client.on('state', (s) => states.push(s.to));
    client.connect();
    const first = await server.nextConnection();
    await client.ready();
    first.send({ type: 'token_expiring', expires_at: Math.floor(Date.now() / 1000) + 5 });
    expect(await first.waitForFrame('auth')).toEqual({ type: 'auth', token: 'tok-2' });
    expect(src.calls).toEqual(['expiring']);
    expect(states).toEqual(['connecting', 'connected']);
    expect(first.closed).toBe(false);
    // HTTP calls use the renewed token too.
    await client.http.inbox();
    expect(server.requests.at(-1)?.token).toBe('tok-2');
  });

  it('with renewInPlace:false, token_expiring → callback → reconnect with the new token, resumed', async () => {
    server = await FakeServer.start();
    server.append('c1', 'a');
    const src = tokenSource();
    const client = makeClient(server, { getToken: src.getToken, renewInPlace: false });
    const sub = client.open('c1', { sinceSeq: 0 });
    client.connect();
    const first = await server.nextConnection();
    await waitFor(() => sub.lastSeq === 1, 'replay');

    first.send({ type: 'token_expiring', expires_at: Date.now() + 5000 });
    const second = await server.nextConnection();
    expect(second.token).toBe('tok-2');
    expect(src.calls).toEqual(['expiring']);
    expect((await second.waitForFrame('subscribe')).since_seq).toBe(1);
    await waitFor(() => first.closed, 'old socket closed');
    await waitFor(() => client.state === 'connected', 'connected');
  });

  it('renews before welcome.expires_at (seconds or ms) on its own clock', async () => {
    const timers = new ManualTimers();
    // Seconds since the epoch, like a JWT `exp`: two minutes from the manual clock's now.
    server = await FakeServer.start({ expiresAt: () => Math.floor(timers.nowMs / 1000) + 120 });
    const src = tokenSource();
    const client = makeClient(server, { timers, getToken: src.getToken, refreshBeforeMs: 30_000 });
    client.connect();
    const first = await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');
    expect(client.session?.expires_at_ms).toBe(timers.nowMs + 120_000);
    expect(timers.pending()).toContain(90_000);
    timers.advance(89_999);
    expect(src.calls).toEqual([]);
    timers.advance(1);
    expect(await first.waitForFrame('auth')).toEqual({ type: 'auth', token: 'tok-2' });
    expect(src.calls).toEqual(['expiring']);
    expect(server.connections).toHaveLength(1);
  });

  it('after an in-place renewal of a JWT, the next renewal is scheduled from its exp', async () => {
    const timers = new ManualTimers();
    server = await FakeServer.start({ expiresAt: () => Math.floor(timers.nowMs / 1000) + 120 });
    const exp = Math.floor(timers.nowMs / 1000) + 600;
    const payload = Buffer.from(JSON.stringify({ sub: 'u', exp })).toString('base64url');
    const jwt = `eyJhbGciOiJIUzI1NiJ9.${payload}.sig`;
    const client = makeClient(server, { timers, getToken: async () => jwt, refreshBeforeMs: 60_000 });
    client.connect();
    const first = await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');
    timers.advance(60_000);
    await first.waitForFrame('auth');
    // exp is 600 s after the start; 60 s of it have passed; renew 60 s before it: in 480 s.
    await waitFor(() => timers.pending().includes(480_000), 'next renewal');
  });

  it('CLOSE.TOKEN_EXPIRED → refresh callback → reconnect with the new token', async () => {
    server = await FakeServer.start();
    const src = tokenSource();
    const client = makeClient(server, { getToken: src.getToken });
    const actions: (string | undefined)[] = [];
    client.on('state', (s) => actions.push(s.action));
    client.connect();
    (await server.nextConnection()).close(CLOSE.TOKEN_EXPIRED, 'expired');
    const second = await server.nextConnection();
    expect(second.token).toBe('tok-2');
    expect(src.calls).toEqual(['expired']);
    await waitFor(() => client.state === 'connected', 'connected');
    expect(actions).toContain('refresh');
  });

  it('a token rejected at the handshake is refreshed before the next dial', async () => {
    server = await FakeServer.start();
    server.expiredTokens.add('tok-1');
    const src = tokenSource();
    const client = makeClient(server, { getToken: src.getToken });
    client.connect();
    await client.ready();
    expect(server.connections.map((c) => c.token)).toEqual(['tok-1', 'tok-2']);
  });

  it('a token whose exp has passed is refreshed before the dial, not offered to be refused', async () => {
    // Seen in the chaos test: back after longer than the token's life, the SDK dialled with the
    // token it knew had expired, was refused (error TOKEN_EXPIRED + 4100) and dialled again.
    server = await FakeServer.start();
    const old = jwt(Math.floor(Date.now() / 1000) - 60, 1);
    server.expiredTokens.add(old);
    const src = tokenSource();
    const client = makeClient(server, { token: old, getToken: src.getToken });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    client.connect();
    await client.ready();
    expect(server.connections.map((c) => c.token)).toEqual(['tok-2']);
    expect(src.calls).toEqual(['expired']);
    expect(errors).toEqual([]);
  });

  it('calls the callback for the first token when none is given', async () => {
    server = await FakeServer.start();
    const src = tokenSource();
    const client = makeClient(server, { token: undefined, getToken: src.getToken });
    client.connect();
    await client.ready();
    expect(src.calls).toEqual(['initial']);
    expect(server.last.token).toBe('tok-2');
  });

  it('a failing callback is reported and retried with backoff', async () => {
    server = await FakeServer.start();
    let fail = 2;
    const client = makeClient(server, {
      getToken: async () => {
        if (fail-- > 0) throw new Error('auth backend down');
        return 'tok-ok';
      },
    });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    client.connect();
    (await server.nextConnection()).close(CLOSE.TOKEN_EXPIRED);
    const second = await server.nextConnection();
    expect(second.token).toBe('tok-ok');
    expect(errors).toEqual(['TOKEN_REFRESH_FAILED', 'TOKEN_REFRESH_FAILED']);
  });

  it('without a callback, an expired token stops the client', async () => {
    server = await FakeServer.start();
    const client = makeClient(server);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    client.connect();
    (await server.nextConnection()).close(CLOSE.TOKEN_EXPIRED);
    await waitFor(() => client.state === 'disconnected', 'stopped');
    expect(errors).toEqual(['TOKEN_EXPIRED']);
  });

  it('HTTP 401 TOKEN_EXPIRED refreshes once and retries the call', async () => {
    server = await FakeServer.start();
    server.expiredTokens.add('tok-1');
    server.append('c1', 'x');
    const src = tokenSource();
    const client = makeClient(server, { getToken: src.getToken });
    const page = await client.http.events('c1', 0);
    expect(page.events.map((e) => e.seq)).toEqual([1]);
    expect(src.calls).toEqual(['expired']);
    expect(server.requests.map((r) => r.token)).toEqual(['tok-1', 'tok-2']);
  });

  it('a token already refreshed over HTTP is reused when the socket then closes TOKEN_EXPIRED', async () => {
    server = await FakeServer.start();
    const src = tokenSource();
    const client = makeClient(server, { getToken: src.getToken });
    client.connect();
    const first = await server.nextConnection();
    await client.ready();
    await waitFor(() => client.inbox.synced, 'inbox synced');
    server.expiredTokens.add('tok-1');
    await Promise.all([client.http.inbox(), client.http.inbox()]);
    expect(src.calls).toEqual(['expired']);
    first.close(CLOSE.TOKEN_EXPIRED);
    const second = await server.nextConnection();
    expect(second.token).toBe('tok-2');
    expect(src.calls).toEqual(['expired']);
  });
});

/** An unsigned JWT-shaped token: the SDK reads `exp` (seconds) from it, as from Herald's tokens. */
function jwt(expSec: number, n: number): string {
  const payload = Buffer.from(JSON.stringify({ sub: 'u', exp: expSec, n })).toString('base64url');
  return `eyJhbGciOiJIUzI1NiJ9.${payload}.sig`;
}

/**
 * A host minting `lifetimeSec` tokens, and a server hinting like the gateway before the fix:
 * `token_expiring` 60 s before expiry, re-armed on every renewal — with lifetimes of 60 s or
 * less that is at once after the welcome and after every `auth`.
 */
async function shortLivedSetup(lifetimeSec: number, renewInPlace: boolean) {
  let n = 0;
  const minted: string[] = [];
  const mint = () => {
    const t = jwt(Math.floor(Date.now() / 1000) + lifetimeSec, ++n);
    minted.push(t);
    return t;
  };
  const first = mint();
  server = await FakeServer.start({ expiresAt: () => Math.floor(Date.now() / 1000) + lifetimeSec });
  const hint = (conn: FakeConnection, expSec: number) => {
    if (expSec * 1000 - 60_000 <= Date.now()) conn.send({ type: 'token_expiring', expires_at: expSec });
  };
  server.onConnect = (conn) => {
    server.welcome(conn);
    hint(conn, Math.floor(Date.now() / 1000) + lifetimeSec);
    return true;
  };
  server.onFrame = (conn, f) => {
    if (f.type !== 'auth') return false;
    const exp = (JSON.parse(Buffer.from(f.token.split('.')[1], 'base64url').toString()) as { exp: number })
      .exp;
    hint(conn, exp);
    return true;
  };
  let calls = 0;
  const client = makeClient(server, {
    token: first,
    renewInPlace,
    getToken: async () => {
      calls++;
      return mint();
    },
  });
  const closedWith: number[] = [];
  client.on('state', (s) => {
    if (s.to === 'reconnecting' && s.closeCode !== undefined) closedWith.push(s.closeCode);
  });
  return { client, calls: () => calls, closedWith };
}

/** Real time passes (the storm is a matter of wall-clock rate): sample it over a fixed span. */
async function idleFor(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

describe('short-lived tokens do not make a renewal storm', () => {
  it.each([20, 60])(
    '%i s tokens, hint re-sent after every renewal: a few renewals, no close',
    async (life) => {
      const { client, calls, closedWith } = await shortLivedSetup(life, true);
      client.connect();
      await client.ready();
      await idleFor(2_500);
      // At most one renewal per tenth of the lifetime (2 s / 6 s) plus the first: not one per hint.
      expect(calls()).toBeGreaterThanOrEqual(1);
      expect(calls()).toBeLessThanOrEqual(3);
      expect(closedWith).toEqual([]);
      expect(server.connections).toHaveLength(1);
      expect(server.last.framesOf('auth').length).toBeLessThanOrEqual(2);
    },
  );

  it('with renewInPlace:false the same hints do not make it reconnect twice a second', async () => {
    const { client, calls } = await shortLivedSetup(20, false);
    client.connect();
    await client.ready();
    await idleFor(2_500);
    expect(calls()).toBeLessThanOrEqual(3);
    expect(server.connections.length).toBeLessThanOrEqual(3);
  });

  it('a host returning the same token is not asked again at once: backs off with jitter', async () => {
    const timers = new ManualTimers();
    server = await FakeServer.start({ expiresAt: () => Math.floor(timers.nowMs / 1000) + 3600 });
    let calls = 0;
    const client = makeClient(server, {
      timers,
      random: () => 0.5,
      getToken: async () => {
        calls++;
        return 'tok-1'; // a cached token: renewing with it changes nothing
      },
    });
    client.connect();
    const conn = await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');
    conn.send({ type: 'token_expiring', expires_at: Math.floor(timers.nowMs / 1000) + 30 });
    await waitFor(() => calls === 1, 'first renewal');
    // Stale: retried after the minimum gain (3 s, a tenth of 30 s) plus jitter (0.5 × 1 s).
    await waitFor(() => timers.pending().includes(3_500), 'backoff timer');
    conn.send({ type: 'token_expiring', expires_at: Math.floor(timers.nowMs / 1000) + 30 });
    conn.send({ type: 'notice', notice: { id: 'barrier' } });
    await new Promise((r) => client.once('notice', r));
    expect(calls).toBe(1); // the repeated hint waits for the backoff
    expect(conn.framesOf('auth')).toEqual([]);
    timers.advance(3_500);
    await waitFor(() => calls === 2, 'second renewal after the backoff');
  });
});

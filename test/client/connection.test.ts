// The connection state machine and what each close code makes it do.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WS from 'ws';
import { CLOSE, HeraldClientError, type WebSocketConstructor } from '../../src/client/index.ts';
import { FakeServer, waitFor } from './fake-server.ts';
import { disconnectAll, ManualTimers, makeClient, recordStates } from './helpers.ts';

let server: FakeServer;
beforeEach(async () => {
  server = await FakeServer.start();
});
afterEach(async () => {
  disconnectAll();
  await server.close();
});

describe('connection state machine', () => {
  it('connects: disconnected → connecting → connected, token as a subprotocol, device on the URL', async () => {
    const client = makeClient(server, { deviceId: 'dev-1' });
    const states = recordStates(client);
    expect(client.state).toBe('disconnected');
    client.connect();
    await client.ready();
    expect(states).toEqual(['disconnected>connecting', 'connecting>connected']);
    const conn = server.last;
    expect(conn.protocols).toEqual(['herald.v1', 'herald.bearer.tok-1']);
    expect(conn.token).toBe('tok-1');
    // Never in the URL, where proxies and access logs would keep it.
    expect(conn.query.has('access_token')).toBe(false);
    expect([...conn.query.values()].join(' ')).not.toContain('tok-1');
    expect(conn.framesOf('auth')).toEqual([]);
    expect(conn.query.get('device_id')).toBe('dev-1');
    expect(client.session?.user_id).toBe(server.userId);
  });

  it('a token that cannot be a subprotocol goes in a first `auth` frame, still not in the URL', async () => {
    const token = 'opaque/token+with=padding==';
    const client = makeClient(server, { token });
    client.connect();
    await client.ready();
    const conn = server.last;
    expect(conn.protocols).toEqual(['herald.v1']);
    expect(conn.query.has('access_token')).toBe(false);
    expect(conn.frames[0]).toEqual({ type: 'auth', token });
    expect(conn.token).toBe(token);
  });

  it('slow-consumer close → reconnecting → connected, resuming with since_seq', async () => {
    for (let i = 0; i < 3; i++) server.append('c1', `m${i}`);
    const client = makeClient(server);
    const states = recordStates(client);
    const sub = client.open('c1', { sinceSeq: 0 });
    client.connect();
    const first = await server.nextConnection();
    await waitFor(() => sub.lastSeq === 3, 'initial replay');

    first.close(CLOSE.SLOW_CONSUMER, 'slow consumer');
    // Committed while the client was away: must arrive through the resume, not be lost.
    server.append('c1', 'while away', { publish: false });
    const second = await server.nextConnection();
    const resub = await second.waitForFrame('subscribe');
    expect(resub).toEqual({ type: 'subscribe', conversation: 'c1', since_seq: 3 });
    await waitFor(() => sub.lastSeq === 4, 'resume');
    expect(sub.messages().map((m) => m.body)).toEqual(['m0', 'm1', 'm2', 'while away']);
    expect(states).toEqual([
      'disconnected>connecting',
      'connecting>connected',
      'connected>reconnecting',
      'reconnecting>connected',
    ]);
  });

  it('reports the close code and action on the state change', async () => {
    const client = makeClient(server);
    const changes: { closeCode?: number; action?: string }[] = [];
    client.on('state', (s) => {
      if (s.to === 'reconnecting') changes.push({ closeCode: s.closeCode, action: s.action });
    });
    client.connect();
    (await server.nextConnection()).close(CLOSE.INTERNAL);
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'reconnected');
    expect(changes).toEqual([{ closeCode: CLOSE.INTERNAL, action: 'reconnect' }]);
  });

  it('a permanent close code stops: disconnected, no redial, CONNECTION_CLOSED', async () => {
    const client = makeClient(server);
    const errors: HeraldClientError[] = [];
    client.on('error', (e) => errors.push(e));
    const pending = client.send('c1', 'never delivered');
    server.opts.autoSend = false;
    client.connect();
    (await server.nextConnection()).close(CLOSE.ORIGIN_NOT_ALLOWED, 'origin');
    await waitFor(() => client.state === 'disconnected', 'stopped');
    await expect(pending.done).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', closeCode: 4400 });
    expect(errors.map((e) => e.code)).toEqual(['CONNECTION_CLOSED']);
    // Any redial would have to go through `connecting`/`reconnecting`; neither is legal from here.
    expect(client.state).toBe('disconnected');
    expect(server.connections).toHaveLength(1);
  });

  it('RATE_LIMITED backs off and reconnects', async () => {
    const client = makeClient(server);
    client.connect();
    (await server.nextConnection()).close(CLOSE.RATE_LIMITED);
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'reconnected');
  });

  it('an abnormal drop (terminate, 1006) reconnects', async () => {
    const client = makeClient(server);
    client.connect();
    (await server.nextConnection()).terminate();
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'reconnected');
  });

  it('keeps retrying while the server is unreachable, then connects', async () => {
    let refuse = 2;
    server.onConnect = (conn) => {
      if (refuse-- > 0) {
        conn.close(CLOSE.INTERNAL);
        return true;
      }
      return false;
    };
    const client = makeClient(server);
    client.connect();
    await client.ready();
    expect(server.connections).toHaveLength(3);
  });

  it('disconnect() closes, stops, and fails unconfirmed sends with DISCONNECTED', async () => {
    server.opts.autoSend = false;
    const client = makeClient(server);
    client.connect();
    await client.ready();
    const m = client.send('c1', 'hello');
    await server.last.waitForFrame('send');
    client.disconnect();
    expect(client.state).toBe('disconnected');
    await expect(m.done).rejects.toBeInstanceOf(HeraldClientError);
    await expect(m.done).rejects.toMatchObject({ code: 'DISCONNECTED' });
    await waitFor(() => server.last.closed, 'socket closed');
    expect(server.connections).toHaveLength(1);
  });

  it('ignores unparseable frames and unknown frame types', async () => {
    const client = makeClient(server);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    client.connect();
    await client.ready();
    server.last.sendRaw('{not json');
    server.last.send({ type: 'from_the_future', x: 1 });
    server.last.send({ type: 'notice', notice: { id: 'n1' } });
    const got = await new Promise((resolve) => client.once('notice', resolve));
    expect(got).toMatchObject({ id: 'n1' });
    expect(client.state).toBe('connected');
    expect(errors).toEqual(['BAD_REQUEST']);
  });

  it('dials the wsUrl override when given', async () => {
    const client = makeClient(server, {
      url: 'http://127.0.0.1:1',
      wsUrl: `${server.url.replace('http', 'ws')}/v1/ws`,
    });
    client.connect();
    await client.ready();
    expect(server.connections).toHaveLength(1);
  });

  it('a dial that is never welcomed times out and is retried', async () => {
    const timers = new ManualTimers();
    let silent = true;
    server.onConnect = () => {
      if (!silent) return false;
      silent = false;
      return true; // accept the socket, never send welcome
    };
    const client = makeClient(server, { timers, connectTimeoutMs: 5000, random: () => 0 });
    client.connect();
    const first = await server.nextConnection();
    timers.advance(5000);
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');
    await waitFor(() => first.closed, 'stale socket closed');
  });

  it('uses globalThis.WebSocket when no constructor is passed (browsers; Node 22+)', async () => {
    const g = globalThis as { WebSocket?: WebSocketConstructor };
    const before = g.WebSocket;
    g.WebSocket = WS;
    try {
      const client = makeClient(server, { WebSocket: undefined });
      client.connect();
      await client.ready();
    } finally {
      g.WebSocket = before;
    }
    // Compile-time: the DOM WebSocket and `ws` both satisfy the SDK's constructor type.
    const types: WebSocketConstructor[] = [WS];
    if (typeof WebSocket !== 'undefined') types.push(WebSocket);
    expect(types.length).toBeGreaterThan(0);
  });
});

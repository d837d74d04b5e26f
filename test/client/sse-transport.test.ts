// The SSE fallback's parts alone: the event-stream parser (chunks split at
// odd places), the transport policy (what counts as "blocked"), and the
// SseSocket against a scripted HTTP server (refusals as close codes, the
// server's `event: close`, a proxy's HTML page, HTTP writes as ack/error
// frames, a network failure as a dropped socket).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TransportPolicy } from '../../src/client/fallback.ts';
import { HeraldHttp } from '../../src/client/http.ts';
import { SseParser, SseSocket, sseUrl } from '../../src/client/sse-transport.ts';

describe('SseParser', () => {
  const parse = (chunks: string[]) => {
    const out: [string | null, string | null][] = [];
    const p = new SseParser((e, d) => out.push([e, d]));
    for (const c of chunks) p.push(c);
    return out;
  };
  const stream =
    'retry: 2000\n\ndata: {"type":"welcome"}\n\nid: c1:1\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: keep-alive\n\nevent: close\ndata: {"code":4001}\n\n';
  const expected = [
    [null, '{"type":"welcome"}'],
    [null, '{"a":\n1}'],
    [null, null],
    ['close', '{"code":4001}'],
  ];

  it('reads events, multi-line data, comments and named events', () => {
    expect(parse([stream])).toEqual(expected);
  });

  it('gives the same events however the bytes are split (CRLF split across chunks included)', () => {
    for (let size = 1; size <= 7; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.slice(i, i + size));
      expect(parse(chunks)).toEqual(expected);
    }
    const crlf = stream.indexOf('\r\n');
    expect(parse([stream.slice(0, crlf + 1), stream.slice(crlf + 1)])).toEqual(expected);
  });

  it('an event without data is not dispatched; a field without a colon is a field', () => {
    expect(parse(['event: x\n\ndata\n\n'])).toEqual([[null, '']]);
  });
});

describe('TransportPolicy', () => {
  it('moves to SSE after `after` dials failing below the protocol; a protocol close resets the count', () => {
    const p = new TransportPolicy({ after: 3 });
    expect(p.dialFailed('websocket', true)).toBe(false);
    expect(p.dialFailed('websocket', true)).toBe(false);
    expect(p.dialFailed('websocket', false)).toBe(false); // e.g. 4402: the WebSocket works
    expect(p.dialFailed('websocket', true)).toBe(false);
    expect(p.dialFailed('websocket', true)).toBe(false);
    expect(p.current).toBe('websocket');
    expect(p.dialFailed('websocket', true)).toBe(true);
    expect(p.current).toBe('sse');
  });

  it('SSE failing too (a server that is down) hands the next `after` dials back to WebSocket', () => {
    const p = new TransportPolicy({ after: 2 });
    const order: string[] = [];
    for (let i = 0; i < 9; i++) {
      order.push(p.current);
      p.dialFailed(p.current, true);
    }
    expect(order.join(' ')).toBe('websocket websocket sse websocket websocket sse websocket websocket sse');
  });

  it('probe delays double from probeMs up to maxProbeMs and reset after a WebSocket welcome', () => {
    const p = new TransportPolicy({ after: 1, probeMs: 1000, maxProbeMs: 5000 });
    const delays = [];
    for (let i = 0; i < 5; i++) {
      delays.push(p.probeDelay());
      p.probeFailed();
    }
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000]);
    p.probeSucceeded();
    expect(p.current).toBe('websocket');
    p.welcomed('websocket');
    expect(p.probeDelay()).toBe(1000);
  });

  it('fallback: false never leaves WebSocket', () => {
    const p = new TransportPolicy(false);
    for (let i = 0; i < 10; i++) expect(p.dialFailed('websocket', true)).toBe(false);
    expect(p.current).toBe('websocket');
  });
});

describe('sseUrl', () => {
  it('names the conversations and the seq of each that has one; never the token', () => {
    const url = new URL(
      sseUrl('http://h:1/', 'dev 1', [
        { conversation: 'a,b', seq: 4 },
        { conversation: 'c', seq: null },
      ]),
    );
    expect(url.pathname).toBe('/v1/sse');
    expect(url.searchParams.get('device_id')).toBe('dev 1');
    expect(url.searchParams.get('since_seq')).toBe('a%2Cb:4');
    expect(url.searchParams.get('access_token')).toBeNull();
  });
});

describe('SseSocket', () => {
  let server: http.Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });

  type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
  async function serve(handler: Handler): Promise<string> {
    server = http.createServer(async (req, res) => {
      let body = '';
      for await (const c of req) body += c;
      handler(req, res, body);
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  function open(base: string, conversations: string[] = ['c1']) {
    const http = new HeraldHttp({ baseUrl: base, token: () => 'tok' });
    const ws = new SseSocket({
      url: sseUrl(
        base,
        'd',
        conversations.map((c) => ({ conversation: c, seq: 0 })),
      ),
      token: 'tok',
      conversations,
      fetch: (i, init) => fetch(i, init),
      http,
    });
    const frames: Record<string, unknown>[] = [];
    const closed = new Promise<{ code?: number; reason?: string }>((resolve) =>
      ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })),
    );
    const opened = new Promise<void>((resolve) => ws.addEventListener('open', () => resolve()));
    ws.addEventListener('message', (e) => frames.push(JSON.parse(String(e.data))));
    return { ws, frames, closed, opened };
  }

  const refusals: [number, string, number][] = [
    [401, 'TOKEN_EXPIRED', 4100],
    [401, 'UNAUTHENTICATED', 4101],
    [403, 'ORIGIN_NOT_ALLOWED', 4400],
    [429, 'RATE_LIMITED', 4402],
    [429, 'TOO_MANY_CONNECTIONS', 4004],
    [503, 'NOT_READY', 4003],
    [400, 'VALIDATION_FAILED', 4401],
    [404, 'NOT_FOUND', 1006],
  ];
  it.each(refusals)('a %i %s refusal is close %i', async (status, code, close) => {
    const base = await serve((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code, message: `${code} here` } }));
    });
    const { closed } = open(base);
    expect(await closed).toEqual({ code: close, reason: `${code}: ${code} here` });
  });

  it('a 200 that is not an event stream (a proxy page) is a failed transport, 1006', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>blocked</html>');
    });
    expect(await open(base).closed).toEqual({ code: 1006, reason: 'not an event stream (text/html)' });
  });

  it('streams frames, keep-alives as pongs, and ends with the server`s close code', async () => {
    let auth: string | undefined;
    const base = await serve((req, res) => {
      auth = req.headers.authorization;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 2000\n\ndata: {"type":"welcome"}\n\n: keep-alive\n\n');
      setTimeout(() => res.end('event: close\ndata: {"code":4000,"reason":"drain"}\n\n'), 20);
    });
    const { frames, closed } = open(base);
    expect(await closed).toEqual({ code: 4000, reason: 'drain' });
    expect(frames).toEqual([{ type: 'welcome' }, { type: 'pong' }]);
    expect(auth).toBe('Bearer tok');
  });

  it('sends over HTTP one at a time with the client_id as Idempotency-Key; answers become ack / error', async () => {
    const posts: { key: unknown; body: unknown }[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const base = await serve((req, res, body) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': hi\n\n');
        return;
      }
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const parsed = JSON.parse(body) as { body: string };
      posts.push({ key: req.headers['idempotency-key'], body: parsed });
      setTimeout(() => {
        inFlight--;
        if (parsed.body === 'bad') {
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'NOT_A_MEMBER', message: 'no' } }));
          return;
        }
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: { id: `m-${parsed.body}`, seq: posts.length } }));
      }, 10);
    });
    const { ws, frames, opened } = open(base);
    await opened;
    for (const [id, body] of [
      ['k1', 'one'],
      ['k2', 'bad'],
      ['k3', 'three'],
    ])
      ws.send(JSON.stringify({ type: 'send', conversation: 'c1', client_id: id, body }));
    await new Promise<void>((r) => {
      const check = () => (frames.filter((f) => f.type !== 'pong').length >= 3 ? r() : setTimeout(check, 5));
      check();
    });
    expect(maxInFlight).toBe(1);
    expect(posts.map((p) => p.key)).toEqual(['k1', 'k2', 'k3']);
    expect(posts[0].body).toEqual({ client_id: 'k1', body: 'one' });
    expect(frames.filter((f) => f.type !== 'pong')).toEqual([
      { type: 'ack', client_id: 'k1', conversation: 'c1', seq: 1, message_id: 'm-one' },
      { type: 'error', code: 'NOT_A_MEMBER', message: 'no', ref: 'k2' },
      { type: 'ack', client_id: 'k3', conversation: 'c1', seq: 3, message_id: 'm-three' },
    ]);
    ws.close();
  });

  it('a conversation it does not cover, or a renewed token, ends the stream so the client redials', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hi\n\n');
    });
    const a = open(base, ['c1']);
    await a.opened;
    a.ws.send(JSON.stringify({ type: 'subscribe', conversation: 'c1', since_seq: 0 })); // covered
    a.ws.send(JSON.stringify({ type: 'view', conversation: 'c1' })); // no HTTP route: dropped
    expect(a.ws.readyState).toBe(1);
    a.ws.send(JSON.stringify({ type: 'subscribe', conversation: 'c2' }));
    expect(await a.closed).toEqual({ code: 1000, reason: 'reopening the stream with a conversation to add' });
    expect(a.ws.reopen).toBe(true);

    const b = open(base, ['c1']);
    await b.opened;
    b.ws.send(JSON.stringify({ type: 'auth', token: 'new' }));
    expect(await b.closed).toEqual({ code: 1000, reason: 'reopening the stream with a renewed token' });
  });

  it('a write that fails on the network is the transport failing (1006)', async () => {
    let streamRes: http.ServerResponse | null = null;
    const base = await serve((req, res) => {
      if (req.method === 'GET') {
        streamRes = res;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': hi\n\n');
        return;
      }
      req.socket.destroy(); // the POST dies mid-request
    });
    const { ws, closed, opened } = open(base);
    await opened;
    ws.send(JSON.stringify({ type: 'read', conversation: 'c1', seq: 3 }));
    const c = await closed;
    expect(c.code).toBe(1006);
    expect(c.reason).toMatch(/^a request failed/);
    expect(streamRes).not.toBeNull();
  });
});

describe('HeraldClient on the SSE fallback (scripted stream)', () => {
  let server: http.Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });

  it('streams the first 50 open conversations, reports the rest once, and does not loop reopening', async () => {
    const streams: URL[] = [];
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/v1/sse') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ entries: [], notices: [], next_since: null, has_more: false }));
        return;
      }
      streams.push(url);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const welcome = {
        type: 'welcome',
        connection_id: 'x',
        user_id: 'u',
        tenant_id: 't',
        heartbeat_ms: 30_000,
      };
      res.write(`data: ${JSON.stringify(welcome)}\n\n`);
      for (const c of (url.searchParams.get('conversations') ?? '').split(','))
        res.write(
          `data: ${JSON.stringify({ type: 'subscribed', conversation: c, head_seq: 0, replayed: 0, complete: true })}\n\n`,
        );
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { HeraldClient } = await import('../../src/client/index.ts');
    const noSockets = class {
      constructor() {
        throw new Error('WebSockets are blocked here');
      }
    };
    const client = new HeraldClient({
      url: base,
      token: 'tok',
      WebSocket: noSockets as never,
      storage: false,
      fallback: { after: 1, probeMs: 600_000 },
      backoff: { baseMs: 10, maxMs: 20 },
      pingIntervalMs: 0,
      heartbeat: false,
    });
    const limited: string[] = [];
    client.on('error', (e) => {
      if (e.code === 'SSE_CONVERSATION_LIMIT') limited.push(e.ref ?? '');
    });
    const subs = Array.from({ length: 52 }, (_, i) => client.open(`c${i + 1}`, { sinceSeq: 0 }));
    client.connect();
    await client.ready();
    expect(client.transport).toBe('sse');
    await new Promise<void>((r) => {
      const check = () => (subs[49].status === 'subscribed' ? r() : setTimeout(check, 5));
      check();
    });
    expect(streams).toHaveLength(1);
    expect(streams[0].searchParams.get('conversations')?.split(',')).toHaveLength(50);
    expect(limited).toEqual(['c51', 'c52']);
    expect(subs[50].status).toBe('subscribing');
    // A barrier: one more open conversation makes exactly one reopen (at once) — none came before.
    subs[0].close();
    client.open('c53', { sinceSeq: 0 });
    await new Promise<void>((r) => {
      const check = () => (streams.length >= 2 && client.state === 'connected' ? r() : setTimeout(check, 5));
      check();
    });
    expect(streams).toHaveLength(2);
    expect(streams[1].searchParams.get('conversations')?.split(',')).toContain('c51');
    client.disconnect();
  });
});

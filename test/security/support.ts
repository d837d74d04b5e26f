// Helpers of the security suite: the store it runs on, and WebSocket / SSE
// clients against a listening test node (the host's real wiring).
import net from 'node:net';
import WebSocket from 'ws';
import { Client, until } from '../gateway/harness.ts';
import type { TestHerald } from '../support/herald.ts';
import { backends } from '../support/stores.ts';

/** PostgreSQL when the machine has it (fast to create, shareable by two nodes), else PGlite. */
export function securityBackend(): 'postgres' | 'pglite' {
  return backends().includes('postgres') ? 'postgres' : 'pglite';
}

export function wsUrl(t: TestHerald): string {
  if (!t.url) throw new Error('the test node must listen');
  return `${t.url.replace(/^http/, 'ws')}/v1/ws`;
}

/** Opens a socket with the token in the Authorization header; does not wait for `welcome`. */
export async function openWs(
  t: TestHerald,
  token: string,
  o: { origin?: string; query?: Record<string, string> } = {},
): Promise<Client> {
  const qs = new URLSearchParams(o.query ?? {}).toString();
  const ws = new WebSocket(`${wsUrl(t)}${qs ? `?${qs}` : ''}`, {
    headers: { authorization: `Bearer ${token}` },
    origin: o.origin,
  });
  const c = new Client(ws);
  await until(() => c.opened || c.closed || c.unexpected, 'the socket to open');
  return c;
}

/** Opens a socket and waits until it is welcomed or refused (closed or answered without upgrade). */
export async function settleWs(
  t: TestHerald,
  token: string,
  o: { origin?: string; query?: Record<string, string> } = {},
): Promise<Client> {
  const c = await openWs(t, token, o);
  await until(() => c.of('welcome').length > 0 || c.closed || c.unexpected, 'welcome or refusal');
  return c;
}

export interface SseStream {
  status: number;
  /** The JSON body of a refused stream, or the `data` of each event of an open one. */
  // biome-ignore lint/suspicious/noExplicitAny: frames are inspected loosely
  events: { event?: string; data: any }[];
  close(): void;
}

/** Opens GET /v1/sse and parses events as they arrive; resolves once headers are in. */
export async function openSse(
  t: TestHerald,
  query: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<SseStream> {
  const ctrl = new AbortController();
  const res = await fetch(`${t.url}/v1/sse?${new URLSearchParams(query)}`, { headers, signal: ctrl.signal });
  const events: SseStream['events'] = [];
  const stream: SseStream = { status: res.status, events, close: () => ctrl.abort() };
  if (res.status !== 200 || !res.body) {
    events.push({ data: await res.json() });
    return stream;
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev: { event?: string; data?: unknown } = {};
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
        }
        if (ev.data !== undefined) events.push(ev as SseStream['events'][number]);
      }
    }
  })().catch(() => {});
  return stream;
}

/**
 * A TCP proxy in front of Redis that can freeze: connections stay open but nothing is
 * forwarded any more — a hung Redis (stopped process, lost packets), not a closed one.
 */
export async function freezableProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    sockets.add(client).add(upstream);
    client.on('data', (d) => {
      if (!frozen) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!frozen) client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    freeze() {
      frozen = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

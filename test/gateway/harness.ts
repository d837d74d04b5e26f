// Test harness for the gateway: a Herald node (store + bus + relay) with the
// gateway on a plain http.Server on port 0, and a small `ws` client that
// records frames and waits for conditions by bounded polling.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { AccessTokens } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import type { Limits } from '../../src/domain/limits.ts';
import { createGateway, type Gateway } from '../../src/gateway/gateway.ts';
import type { GatewayOptions } from '../../src/gateway/options.ts';
import { type Herald, startHerald } from '../../src/host/herald.ts';
import { createLogger } from '../../src/host/logger.ts';
import type { Db } from '../../src/store/db.ts';
import { seedTenant } from '../support/fixtures.ts';

export interface Served {
  gateway: Gateway;
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface Node extends Served {
  herald: Herald;
  tokens: AccessTokens;
  token(tenant: string, user: string, ttlSec?: number): Promise<string>;
  /** Another gateway (own http.Server) on the same herald: other options, same bus and store. */
  serve(opts?: Partial<GatewayOptions>): Promise<Served>;
}

export const SECRET = 'test-secret-for-gateway-0123456789';

/** Generous handshake limits so reconnect-heavy tests do not trip them. */
export const relaxed: Partial<GatewayOptions> = {
  handshakeRatePerIp: { perSec: 1000, burst: 1000 },
  handshakeRatePerUser: { perSec: 1000, burst: 1000 },
  frameRate: { perSec: 1000, burst: 1000 },
};

async function serveGateway(herald: Herald, opts: Partial<GatewayOptions>): Promise<Served> {
  // Wired as the host does: the HTTP API's authenticate() (Herald's own tokens, or the host's JWTs).
  const tokens = { verify: (token: string) => herald.auth.authenticate(token) };
  const gateway = createGateway({
    deps: herald.deps,
    bus: herald.bus,
    tokens,
    sendLimiter: herald.sendLimiter,
    ...relaxed,
    ...opts,
  });
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  gateway.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    gateway,
    server,
    port,
    url: `ws://127.0.0.1:${port}/v1/ws`,
    async close() {
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function startNode(
  db: Db,
  opts: Partial<GatewayOptions> = {},
  limits: Partial<Limits> = {},
): Promise<Node> {
  const base = loadConfig({
    HERALD_RELAY_POLL_MS: '25',
    LOG_LEVEL: 'silent',
    HERALD_DEMO: 'false',
    HERALD_JWT_SECRET: SECRET,
    // Tests send as fast as they can; the shared send limit has its own test.
    HERALD_SEND_RATE_MAX: '100000',
  });
  const config = { ...base, limits: { ...base.limits, ...limits } };
  const herald = await startHerald(config, { db, log: createLogger('silent') });
  const tokens = herald.auth.tokens;
  const main = await serveGateway(herald, opts);
  const extra: Served[] = [];
  return {
    ...main,
    herald,
    tokens,
    async token(tenant, user, ttlSec) {
      return (await tokens.mint({ tenant_id: tenant, user_id: user, tenants: [tenant] }, ttlSec)).token;
    },
    async serve(o = {}) {
      const s = await serveGateway(herald, o);
      extra.push(s);
      return s;
    },
    async close() {
      for (const s of extra) await s.close();
      await main.close();
      await herald.close();
    },
  };
}

/** A fresh tenant with alice and bob in a group alice created; its creation event is published. */
export async function aliceBobGroup(node: Node): Promise<{ tenant: string; id: string }> {
  const db = node.herald.db;
  const tenant = await seedTenant(db, ['alice', 'bob']);
  const { id } = await createConversation(
    node.herald.deps,
    tenant,
    { type: 'user', user_id: 'alice' },
    { kind: 'group', title: 'g', members: ['bob'] },
  );
  await published(db, tenant);
  return { tenant, id };
}

/** Waits until the relay has published every outbox row of the tenant. */
export async function published(db: Db, tenant: string): Promise<void> {
  await until(async () => {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1 AND published_at IS NULL',
      [tenant],
    );
    return rows[0].n === 0;
  }, 'the relay to publish');
}

/** Polls until `fn` returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function until<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// biome-ignore lint/suspicious/noExplicitAny: test frames are inspected loosely
export type Frame = Record<string, any>;

export class Client {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | null = null;
  opened = false;
  unexpected: { status: number } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on('open', () => {
      this.opened = true;
    });
    ws.on('message', (d) => this.frames.push(JSON.parse(d.toString())));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on('unexpected-response', (_req, res) => {
      this.unexpected = { status: res.statusCode ?? 0 };
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => {});
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  of(type: string, pred: (f: Frame) => boolean = () => true): Frame[] {
    return this.frames.filter((f) => f.type === type && pred(f));
  }

  async next(type: string, pred: (f: Frame) => boolean = () => true, timeoutMs?: number): Promise<Frame> {
    return until(() => this.frames.find((f) => f.type === type && pred(f)), `a ${type} frame`, timeoutMs);
  }

  /** Event seqs received for a conversation, in arrival order. */
  seqs(conversation: string): number[] {
    return this.of('event', (f) => f.conversation === conversation).map((f) => f.seq);
  }

  async waitClosed(timeoutMs?: number): Promise<{ code: number; reason: string }> {
    return until(() => this.closed, 'the socket to close', timeoutMs);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}

export interface ConnectOptions {
  /** Where the token goes (default: header). */
  via?: 'header' | 'query' | 'frame' | 'none';
  origin?: string;
  query?: Record<string, string>;
  /** Wait for `welcome` (default true unless via is none). */
  welcome?: boolean;
}

export async function connect(node: Served, token: string, o: ConnectOptions = {}): Promise<Client> {
  const via = o.via ?? 'header';
  const q = new URLSearchParams(o.query ?? {});
  if (via === 'query') q.set('access_token', token);
  const qs = q.toString();
  const headers: Record<string, string> = {};
  if (via === 'header') headers.authorization = `Bearer ${token}`;
  const ws = new WebSocket(`${node.url}${qs ? `?${qs}` : ''}`, {
    headers,
    origin: o.origin,
    maxPayload: 256 * 1024 * 1024,
  });
  const c = new Client(ws);
  await until(() => c.opened || c.closed || c.unexpected, 'the socket to open');
  if (via === 'frame' && c.opened) c.send({ type: 'auth', token });
  if (o.welcome ?? via !== 'none') await c.next('welcome');
  return c;
}

/** Subscribes and waits for `subscribed`. */
export async function subscribe(c: Client, conversation: string, since_seq?: number): Promise<Frame> {
  const before = c.of('subscribed', (f) => f.conversation === conversation).length;
  c.send({ type: 'subscribe', conversation, ...(since_seq !== undefined ? { since_seq } : {}) });
  await until(
    () =>
      c.of('subscribed', (f) => f.conversation === conversation).length > before || c.of('error').length > 0,
    `subscribed to ${conversation}`,
  );
  const err = c.of('error', (f) => f.ref === conversation).at(-1);
  const sub = c.of('subscribed', (f) => f.conversation === conversation).at(before);
  if (!sub) throw new Error(`subscribe failed: ${JSON.stringify(err)}`);
  return sub;
}

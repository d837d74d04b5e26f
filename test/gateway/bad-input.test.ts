// Bad input gets its documented error or close code, and the node keeps
// serving everyone else.
import { SignJWT } from 'jose';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createConversation } from '../../src/domain/conversations.ts';
import type { Session } from '../../src/gateway/session.ts';
import { CLOSE } from '../../src/protocol/close-codes.ts';
import { memoryConnections } from '../../src/registry/memory-connections.ts';
import type { ConnectionRegistry } from '../../src/registry/ports.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { Client, connect, type Node, published, startNode, subscribe, until } from './harness.ts';

describe.each(backends())('gateway bad input (%s)', (backend: Backend) => {
  let store: TestStore;
  let node: Node;
  let tenant: string;
  let group: string;
  let bystander: Client;
  beforeAll(async () => {
    store = await openTestStore(backend);
    node = await startNode(store.db, { authTimeoutMs: 300 });
    tenant = await seedTenant(store.db, ['alice', 'bob', 'mallory']);
    group = (
      await createConversation(
        node.herald.deps,
        tenant,
        { type: 'user', user_id: 'alice' },
        {
          kind: 'group',
          title: 'g',
          members: ['bob'],
        },
      )
    ).id;
    await store.db.query('UPDATE tenants SET allowed_origins = $2 WHERE id = $1', [
      tenant,
      ['https://app.example'],
    ]);
    await published(store.db, tenant);
    bystander = await connect(node, await node.token(tenant, 'alice'));
    await subscribe(bystander, group);
  });
  afterAll(async () => {
    bystander?.close();
    await node?.close();
    await store?.close();
  });

  /** The node still serves the bystander after each abuse. */
  async function stillServing() {
    const n = bystander.of('pong').length;
    bystander.send({ type: 'ping' });
    await bystander.next('pong', () => bystander.of('pong').length > n);
    expect(bystander.closed).toBeNull();
  }

  it('subscribe to a conversation you are not in: NOT_A_MEMBER; unknown: CONVERSATION_NOT_FOUND', async () => {
    const hub = node.gateway.core.hub;
    const listeners = () => hub.listenerCount(`t:${tenant}:c:${group}`);
    const before = listeners();
    const m = await connect(node, await node.token(tenant, 'mallory'));
    m.send({ type: 'subscribe', conversation: group, since_seq: 0 });
    expect(await m.next('error', (f) => f.ref === group)).toMatchObject({ code: 'NOT_A_MEMBER' });
    m.send({ type: 'subscribe', conversation: 'nope' });
    expect(await m.next('error', (f) => f.ref === 'nope')).toMatchObject({ code: 'CONVERSATION_NOT_FOUND' });
    // The same id from another tenant is not found either.
    const other = await seedTenant(store.db, ['eve']);
    const e = await connect(node, await node.token(other, 'eve'));
    e.send({ type: 'subscribe', conversation: group, since_seq: 0 });
    expect(await e.next('error', (f) => f.ref === group)).toMatchObject({ code: 'CONVERSATION_NOT_FOUND' });
    m.send({ type: 'send', conversation: group, client_id: 'm1', body: 'hi' });
    expect(await m.next('error', (f) => f.ref === 'm1')).toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(m.seqs(group)).toEqual([]);
    // The refused subscribes joined the bus topics only to buffer: nothing was left behind.
    expect(listeners()).toBe(before);
    expect(hub.listenerCount(`t:${other}:c:${group}`)).toBe(0);
    expect(hub.listenerCount(`t:${tenant}:c:nope`)).toBe(0);
    m.close();
    e.close();
    await stillServing();
  });

  it('wrong Origin closes with ORIGIN_NOT_ALLOWED; listed and same-origin pages are admitted', async () => {
    const bad = await connect(node, await node.token(tenant, 'bob'), {
      origin: 'https://evil.example',
      welcome: false,
    });
    expect((await bad.waitClosed()).code).toBe(CLOSE.ORIGIN_NOT_ALLOWED);
    expect(bad.of('error')[0]).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
    const good = await connect(node, await node.token(tenant, 'bob'), { origin: 'https://app.example' });
    const same = await connect(node, await node.token(tenant, 'bob'), {
      origin: `http://127.0.0.1:${node.port}`,
    });
    good.close();
    same.close();
    expect(node.gateway.metrics().handshakeFailures.origin).toBeGreaterThan(0);
    await stillServing();
  });

  it('expired, forged or missing tokens close with TOKEN_EXPIRED / UNAUTHENTICATED', async () => {
    const expired = (await node.tokens.mint({ tenant_id: tenant, user_id: 'bob', tenants: [tenant] }, -60))
      .token;
    const e = await connect(node, expired, { welcome: false });
    expect((await e.waitClosed()).code).toBe(CLOSE.TOKEN_EXPIRED);
    const forged = await new SignJWT({ tid: tenant })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bob')
      .setIssuer('herald')
      .setAudience('herald')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-secret'));
    const f = await connect(node, forged, { via: 'query', welcome: false });
    expect((await f.waitClosed()).code).toBe(CLOSE.UNAUTHENTICATED);
    const none = await connect(node, '', { via: 'none' });
    expect((await none.waitClosed()).code).toBe(CLOSE.UNAUTHENTICATED); // auth timeout
    const wrongFirst = await connect(node, '', { via: 'none' });
    wrongFirst.send({ type: 'subscribe', conversation: group });
    expect((await wrongFirst.waitClosed()).code).toBe(CLOSE.UNAUTHENTICATED);
    // The first-frame auth works, and so does the subprotocol (only herald.v1 is echoed).
    const ok = await connect(node, await node.token(tenant, 'bob'), { via: 'frame' });
    ok.close();
    const sp = new Client(
      new WebSocket(node.url, ['herald.v1', `herald.bearer.${await node.token(tenant, 'bob')}`]),
    );
    await sp.next('welcome');
    expect(sp.ws.protocol).toBe('herald.v1');
    sp.close();
    const m = node.gateway.metrics().handshakeFailures;
    expect(m.token_expired).toBeGreaterThan(0);
    expect(m.unauthenticated).toBeGreaterThan(0);
    expect(m.auth_timeout).toBeGreaterThan(0);
    await stillServing();
  });

  it('a 1 MiB frame closes the socket (1009); malformed JSON closes with PROTOCOL_ERROR', async () => {
    const big = await connect(node, await node.token(tenant, 'bob'));
    big.send(
      JSON.stringify({ type: 'send', conversation: group, client_id: 'big', body: 'x'.repeat(1024 * 1024) }),
    );
    expect((await big.waitClosed()).code).toBe(1009);
    const junk = await connect(node, await node.token(tenant, 'bob'));
    junk.send('{not json');
    expect((await junk.waitClosed()).code).toBe(CLOSE.PROTOCOL_ERROR);
    expect(junk.of('error')[0]).toMatchObject({ code: 'BAD_REQUEST' });
    const binary = await connect(node, await node.token(tenant, 'bob'));
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect((await binary.waitClosed()).code).toBe(CLOSE.PROTOCOL_ERROR);
    await stillServing();
  });

  it('unknown frame types and invalid fields get errors; the socket stays open', async () => {
    const c = await connect(node, await node.token(tenant, 'bob'));
    c.send({ type: 'teleport', conversation: group });
    expect(await c.next('error')).toMatchObject({ code: 'UNKNOWN_FRAME' });
    c.send({ type: 'send', conversation: group, client_id: 'v1' });
    expect(await c.next('error', (f) => f.ref === 'v1')).toMatchObject({ code: 'VALIDATION_FAILED' });
    c.send({ type: 'send', conversation: group, client_id: 'v2', body: '   ' });
    expect(await c.next('error', (f) => f.ref === 'v2')).toMatchObject({ code: 'EMPTY_BODY' });
    c.send({ type: 'read', conversation: group, seq: 999 });
    expect(await c.next('error', (f) => f.ref === group)).toMatchObject({ code: 'INVALID_SEQ' });
    c.send({ type: 'subscribe', conversation: group, since_seq: 999 });
    await until(() => c.of('error', (f) => f.ref === group).length === 2, 'the second error');
    expect(c.of('error', (f) => f.ref === group)[1]).toMatchObject({ code: 'INVALID_SEQ' });
    expect(node.gateway.core.hub.listenerCount(`t:${tenant}:c:${group}`)).toBe(1); // only the bystander
    c.send({ type: 'ping' });
    await c.next('pong');
    expect(c.closed).toBeNull();
    c.close();
  });

  it('a frame flood closes with RATE_LIMITED; handshakes are limited per user and per IP', async () => {
    const strict = await node.serve({
      frameRate: { perSec: 5, burst: 10 },
      handshakeRatePerUser: { perSec: 0.001, burst: 2 },
      handshakeRatePerIp: { perSec: 1000, burst: 1000 },
    });
    const flood = await connect(strict, await node.token(tenant, 'bob'));
    for (let i = 0; i < 50; i++) flood.send({ type: 'ping' });
    expect((await flood.waitClosed()).code).toBe(CLOSE.RATE_LIMITED);
    const second = await connect(strict, await node.token(tenant, 'bob'));
    const third = await connect(strict, await node.token(tenant, 'bob'), { welcome: false });
    expect((await third.waitClosed()).code).toBe(CLOSE.RATE_LIMITED);
    second.close();

    const perIp = await node.serve({ handshakeRatePerIp: { perSec: 0.001, burst: 1 } });
    const one = await connect(perIp, await node.token(tenant, 'alice'));
    const two = await connect(perIp, await node.token(tenant, 'alice'), { welcome: false });
    expect(two.unexpected?.status).toBe(429);
    one.close();
    expect(strict.gateway.metrics().handshakeFailures.rate_limited_user).toBe(1);
    await stillServing();
  });

  it('an unsupported protocol version closes with UNSUPPORTED_VERSION; other paths get 404', async () => {
    const v2 = await connect(node, await node.token(tenant, 'bob'), { query: { v: '2' }, welcome: false });
    expect((await v2.waitClosed()).code).toBe(CLOSE.UNSUPPORTED_VERSION);
    const ws = new WebSocket(`ws://127.0.0.1:${node.port}/elsewhere`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(404);
    await stillServing();
  });

  it('a socket gone while its connection is being registered leaves no registry entry and no timer', async () => {
    const inner = memoryConnections();
    const unregistered: string[] = [];
    let registering: string | null = null;
    // Registration completes only after the transport has disposed of the session.
    const connections: ConnectionRegistry = {
      ...inner,
      async register(t, entry, ttlMs, nowMs) {
        registering = entry.connection_id;
        await until(() => unregistered.includes(entry.connection_id), 'dispose() to unregister');
        await inner.register(t, entry, ttlMs, nowMs);
      },
      async unregister(t, id) {
        unregistered.push(id);
        await inner.unregister(t, id);
      },
    };
    const served = await node.serve({ connections });
    const sessions = served.gateway.core.sessions;
    const add = sessions.add.bind(sessions);
    let session: Session | null = null;
    sessions.add = (s) => {
      session = s;
      return add(s);
    };
    const c = await connect(served, await node.token(tenant, 'bob'), { welcome: false });
    const id = await until(() => registering, 'the registration to start');
    c.ws.terminate();
    // dispose() unregisters, then start() — finding itself disposed — undoes its late register.
    await until(() => unregistered.filter((u) => u === id).length === 2, 'start() to unregister');
    expect(await inner.ofUser(tenant, 'bob', Date.now())).toEqual([]);
    expect(c.of('welcome')).toEqual([]);
    expect((session as unknown as { expiringTimer: unknown }).expiringTimer).toBeNull();
    await stillServing();
  });

  it('metrics are mirrored to a prom-client registry and a callback', async () => {
    const registry = new Registry();
    const seen: string[] = [];
    const served = await node.serve({ metrics: { registry, onMetric: (e) => seen.push(e.name) } });
    const c = await connect(served, await node.token(tenant, 'bob'));
    const junk = await connect(served, 'junk', { welcome: false });
    await junk.waitClosed();
    const text = await registry.metrics();
    expect(text).toMatch(/herald_gateway_connections\{transport="ws"\} 1/);
    expect(text).toMatch(/herald_gateway_handshake_failures_total\{reason="unauthenticated"\} 1/);
    expect(seen).toContain('connection_opened');
    c.close();
  });
});

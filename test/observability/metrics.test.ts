// Every metric of DESIGN §11 moves by exactly what happened, read from a real node's
// /metrics over HTTP before and after, with real WebSocket and SSE clients, on both
// stores: connections, handshake failures, HTTP durations by route template, commit →
// publish, publish → send, relay lag, catch-ups, gap fetches, per-socket queue depth,
// rate-limit refusals and webhook outcomes. Backpressure (dropped and coalesced frames,
// a backed-up queue): backpressure-metrics.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client, connect, type Served, subscribe, until } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';
import { startReceiver } from '../webhooks/receiver.ts';
import { delta, has, value } from './prom.ts';

const ENV = {
  // Per user per minute: a test that sends counts its own refusals exactly.
  HERALD_SEND_RATE_MAX: '3',
  HERALD_SEND_RATE_WINDOW_SEC: '60',
  HERALD_API_KEY_RATE_MAX: '4',
  HERALD_API_KEY_RATE_WINDOW_SEC: '60',
  HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
  HERALD_WEBHOOK_POLL_MS: '50',
  HERALD_WEBHOOK_RETRY_BASE_MS: '20',
  HERALD_WEBHOOK_RETRY_MAX_MS: '40',
  HERALD_WEBHOOK_TIMEOUT_MS: '2000',
  HERALD_WEBHOOK_RETRY_WINDOW_SEC: '2',
};

describe.each(backends())('metrics move by exactly what happened (%s)', (backend: Backend) => {
  let t: TestHerald;
  let base: string;
  let ws: Served;
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true, env: ENV });
    base = t.url as string;
    ws = { url: `${base.replace('http', 'ws')}/v1/ws` } as Served;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  const scrape = async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };
  /** Scrapes until `pred` holds (a condition, never a fixed sleep). */
  const scrapeUntil = async (pred: (text: string) => boolean, what: string) => {
    let last = '';
    await until(async () => {
      last = await scrape();
      return pred(last);
    }, what);
    return last;
  };
  const call = async (
    method: string,
    path: string,
    token: string | null,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: responses are inspected loosely
    return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as any };
  };
  /** A fresh tenant (fresh rate budgets) with alice and bob in a group. */
  const setup = async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const alice = (await t.mintUser(tenant_id, 'alice')).access_token;
    const bob = (await t.mintUser(tenant_id, 'bob')).access_token;
    const made = await call('POST', '/v1/conversations', alice, {
      kind: 'group',
      title: 'g',
      members: ['bob'],
    });
    expect(made.status).toBe(201);
    const conv = made.body.conversation.id as string;
    await published(tenant_id);
    return { tenant: tenant_id, apiKey: api_key, alice, bob, conv };
  };
  const published = (tenant: string) =>
    until(async () => {
      const { rows } = await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM outbox WHERE tenant_id = $1 AND published_at IS NULL',
        [tenant],
      );
      return rows[0].n === 0;
    }, 'the relay to publish');
  const send = (token: string, conv: string, body: string, headers?: Record<string, string>) =>
    call('POST', `/v1/conversations/${conv}/messages`, token, { body }, headers);

  it('connections, connects, disconnects by code, handshake failures by reason', async () => {
    const { bob } = await setup();
    const s0 = await scrape();
    const c = await connect(ws, bob);
    const s1 = await scrape();
    expect(delta(s0, s1, 'herald_gateway_connections', { transport: 'ws' })).toBe(1);
    expect(delta(s0, s1, 'herald_gateway_connects_total', { transport: 'ws' })).toBe(1);
    c.ws.close(1000);
    const s2 = await scrapeUntil(
      (s) =>
        value(s, 'herald_gateway_connections', { transport: 'ws' }) ===
        value(s0, 'herald_gateway_connections', { transport: 'ws' }),
      'the connection gauge to go back',
    );
    expect(delta(s0, s2, 'herald_gateway_disconnects_total', { transport: 'ws', code: '1000' })).toBe(1);
    expect(delta(s0, s2, 'herald_gateway_connects_total', { transport: 'ws' })).toBe(1);

    // A bad token on the socket, no token on SSE: one failure each, by reason; no connection.
    const bad = new Client(new WebSocket(ws.url, { headers: { authorization: 'Bearer nope' } }));
    await until(() => bad.closed ?? bad.unexpected, 'the refusal');
    const sse = await fetch(`${base}/v1/sse`);
    expect(sse.status).toBe(401);
    await sse.text();
    const s3 = await scrape();
    expect(delta(s2, s3, 'herald_gateway_handshake_failures_total', { reason: 'unauthenticated' })).toBe(1);
    expect(delta(s2, s3, 'herald_gateway_handshake_failures_total', { reason: 'no_token' })).toBe(1);
    expect(delta(s2, s3, 'herald_gateway_handshake_failures_total')).toBe(2);
    expect(delta(s2, s3, 'herald_gateway_connects_total')).toBe(0);
  });

  it('HTTP requests and durations are labelled by route template, never by raw URL', async () => {
    const { bob, conv } = await setup();
    const s0 = await scrape();
    const route = '/v1/conversations/:id/messages';
    expect((await call('GET', `/v1/conversations/${conv}/messages`, bob)).status).toBe(200);
    expect((await call('GET', '/v1/conversations/no-such-conversation/messages', bob)).status).toBe(404);
    expect((await call('GET', '/no/such/route', null)).status).toBe(404);
    const s1 = await scrape();
    const get = { method: 'GET', route };
    expect(delta(s0, s1, 'herald_http_request_duration_seconds_count', get)).toBe(2);
    expect(delta(s0, s1, 'herald_http_requests_total', { ...get, status: '200' })).toBe(1);
    expect(delta(s0, s1, 'herald_http_requests_total', { ...get, status: '404' })).toBe(1);
    expect(delta(s0, s1, 'herald_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    expect(s1).not.toContain(conv);
    expect(s1).not.toContain('no-such-conversation');
  });

  it('one send: commit → publish once per outbox row, publish → send once per delivered frame, the trace in the frame', async () => {
    const { tenant, alice, bob, conv } = await setup();
    const b = await connect(ws, bob);
    await subscribe(b, conv);
    const { rows: top } = await t.db.query<{ id: string }>(
      'SELECT COALESCE(max(id), 0)::text AS id FROM outbox',
    );
    const s0 = await scrape();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const sent = await send(alice, conv, 'hello', {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    expect(sent.status).toBe(201);
    expect(sent.headers.get('x-trace-id')).toBe(traceId);
    const event = await b.next('event', (f) => f.conversation === conv && f.seq === sent.body.message.seq);
    await b.next('inbox', (f) => f.entry.conversation_id === conv);
    await published(tenant);
    const { rows } = await t.db.query<{ n: number; traced: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE trace_id LIKE $2)::int AS traced
         FROM outbox WHERE id > $1::bigint AND tenant_id = $3`,
      [top[0].id, `00-${traceId}-%`, tenant],
    );
    // The room's event and alice's and bob's inbox frames, every one carrying the trace.
    expect(rows[0].n).toBe(3);
    expect(rows[0].traced).toBe(3);
    const s1 = await scrapeUntil(
      (s) => delta(s0, s, 'herald_gateway_publish_to_send_seconds_count') >= 2,
      'publish → send observations',
    );
    expect(delta(s0, s1, 'herald_relay_published_total')).toBe(3);
    expect(delta(s0, s1, 'herald_relay_commit_to_publish_seconds_count')).toBe(3);
    // Two of the three frames had a listener on this node (bob's room and bob's inbox).
    expect(delta(s0, s1, 'herald_gateway_publish_to_send_seconds_count')).toBe(2);
    expect(event.trace).toBe(traceId);
    // An opaque X-Trace-Id (no traceparent) travels as it is, to the frame too.
    const legacy = await send(alice, conv, 'legacy', { 'x-trace-id': 'order-42.retry' });
    expect(legacy.headers.get('x-trace-id')).toBe('order-42.retry');
    const second = await b.next('event', (f) => f.seq === legacy.body.message.seq);
    expect(second.trace).toBe('order-42.retry');
    b.close();
  });

  it('relay lag: the age of the oldest unpublished row, 0 once the relay has caught up', async () => {
    const { tenant } = await setup();
    const s0 = await scrape();
    expect(value(s0, 'herald_relay_lag_seconds')).toBe(0);
    expect(value(s0, 'herald_ready')).toBe(1);
    await t.herald.relay.stop();
    try {
      await t.db.query(
        `INSERT INTO outbox (tenant_id, topic, payload, created_at)
         VALUES ($1, $2, '{"type":"inbox","entry":{}}', now() - interval '120 seconds')`,
        [tenant, `obs-lag:${tenant}`],
      );
      const lag = value(await scrape(), 'herald_relay_lag_seconds');
      expect(lag).toBeGreaterThanOrEqual(120);
      expect(lag).toBeLessThan(600);
    } finally {
      await t.herald.relay.start();
    }
    await published(tenant);
    expect(value(await scrape(), 'herald_relay_lag_seconds')).toBe(0);
  });

  it('catch-ups (subscribe with since_seq) and gap fetches (GET …/events), by events read', async () => {
    const { tenant, alice, bob, conv } = await setup();
    for (const body of ['one', 'two']) expect((await send(alice, conv, body)).status).toBe(201);
    await published(tenant);
    const s0 = await scrape();
    const b = await connect(ws, bob);
    const sub = await subscribe(b, conv, 0);
    await until(() => b.seqs(conv).length === sub.replayed, 'the replay');
    const s1 = await scrape();
    expect(sub.replayed).toBe(3); // created, one, two
    expect(delta(s0, s1, 'herald_gateway_catchup_events_count', { kind: 'subscribe' })).toBe(1);
    expect(delta(s0, s1, 'herald_gateway_catchup_events_sum', { kind: 'subscribe' })).toBe(3);
    expect(delta(s0, s1, 'herald_gateway_catchup_duration_seconds_count', { kind: 'subscribe' })).toBe(1);
    // A subscribe without since_seq is live from now: no catch-up.
    const c = await connect(ws, alice);
    await subscribe(c, conv);
    const s2 = await scrape();
    expect(delta(s1, s2, 'herald_gateway_catchup_events_count')).toBe(0);

    const page = await call('GET', `/v1/conversations/${conv}/events?after_seq=1`, bob);
    expect(page.status).toBe(200);
    expect(page.body.events).toHaveLength(2);
    const s3 = await scrape();
    expect(delta(s2, s3, 'herald_api_gap_fetches_total')).toBe(1);
    expect(delta(s2, s3, 'herald_api_gap_fetch_events_total')).toBe(2);
    b.close();
    c.close();
  });

  it('per-socket queue depth: one observation per open connection at each scrape', async () => {
    const { alice, bob } = await setup();
    const a = await connect(ws, alice);
    const b = await connect(ws, bob);
    const s = await scrape();
    const open = value(s, 'herald_gateway_connections');
    expect(open).toBeGreaterThanOrEqual(2);
    // A snapshot, not a running count: as many observations as connections right now.
    expect(value(s, 'herald_gateway_socket_queue_bytes_count')).toBe(open);
    expect(value(s, 'herald_gateway_socket_queue_bytes_bucket', { le: '+Inf' })).toBe(open);
    a.ws.close(1000);
    b.ws.close(1000);
    const after = await scrapeUntil(
      (x) => value(x, 'herald_gateway_connections') === open - 2,
      'the two sockets to close',
    );
    expect(value(after, 'herald_gateway_socket_queue_bytes_count')).toBe(open - 2);
  });

  it('rate-limit refusals by limit: sends over HTTP and WebSocket share one count, API keys another', async () => {
    const { apiKey, alice, conv, tenant } = await setup();
    const s0 = await scrape();
    for (let i = 0; i < 3; i++) expect((await send(alice, conv, `m${i}`)).status).toBe(201);
    const refused = await send(alice, conv, 'over');
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    const a = await connect(ws, alice);
    a.send({ type: 'send', conversation: conv, client_id: 'k1', body: 'over too' });
    await a.next('error', (f) => f.ref === 'k1' && f.code === 'RATE_LIMITED');
    const s1 = await scrape();
    expect(delta(s0, s1, 'herald_rate_limited_total', { limit: 'send' })).toBe(2);

    for (let i = 0; i < 4; i++)
      expect((await call('POST', '/v1/tokens', apiKey, { user_id: 'carol' })).status).toBe(200);
    expect((await call('POST', '/v1/tokens', apiKey, { user_id: 'carol' })).status).toBe(429);
    const s2 = await scrape();
    expect(delta(s1, s2, 'herald_rate_limited_total', { limit: 'api_key' })).toBe(1);
    expect(delta(s1, s2, 'herald_rate_limited_total', { limit: 'send' })).toBe(0);
    a.close();
    await published(tenant);
  });

  it('webhook outcomes: delivered, failed (retried) and dead, and the endpoint disabled', async () => {
    const { apiKey, alice, conv, tenant } = await setup();
    const rx = await startReceiver();
    try {
      let calls = 0;
      rx.mode = () => (++calls <= 2 ? 'down' : 'up'); // two failures, then delivered
      const hook = await call('POST', '/v1/webhooks', apiKey, { url: rx.url, events: ['message.created'] });
      expect(hook.status).toBe(201);
      rx.secret = hook.body.secret;
      const s0 = await scrape();
      expect(has(s0, 'herald_webhook_attempts_total', { outcome: 'dead' })).toBe(true);
      expect((await send(alice, conv, 'to the hook')).status).toBe(201);
      await rx.until((r) => r.length === 1);
      const s1 = await scrapeUntil(
        (s) => delta(s0, s, 'herald_webhook_attempts_total', { outcome: 'delivered' }) === 1,
        'the delivered attempt',
      );
      expect(delta(s0, s1, 'herald_webhook_attempts_total', { outcome: 'failed' })).toBe(2);
      expect(delta(s0, s1, 'herald_webhook_attempts_total', { outcome: 'dead' })).toBe(0);
      expect(delta(s0, s1, 'herald_webhook_attempt_duration_seconds_count')).toBe(3);

      // Down for the whole retry window (2 s): attempts fail, the last one dead-letters the
      // event and disables the endpoint (it took no request during that window).
      let downCalls = 0;
      rx.mode = () => {
        downCalls++;
        return 'down';
      };
      expect((await send(alice, conv, 'never delivered')).status).toBe(201);
      const s2 = await scrapeUntil(
        (s) => delta(s1, s, 'herald_webhook_attempts_total', { outcome: 'dead' }) === 1,
        'the dead letter',
      );
      expect(delta(s1, s2, 'herald_webhook_attempts_total', { outcome: 'failed' })).toBe(downCalls - 1);
      expect(delta(s1, s2, 'herald_webhook_endpoints_disabled_total')).toBe(1);
      expect(delta(s1, s2, 'herald_webhook_attempts_total', { outcome: 'delivered' })).toBe(0);
    } finally {
      await rx.close();
      await published(tenant);
    }
  });
});

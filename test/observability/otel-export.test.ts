// OpenTelemetry export, on only when an OTLP endpoint is set: a local fake OTLP/HTTP
// receiver (JSON) gets the spans of one send — the HTTP request, its commit, the relay's
// publish and the gateway's delivery to the socket — in one trace (the caller's
// traceparent, or the one Herald made and returned as X-Trace-Id), each the child of the
// one before. Configuration: off by default, OTEL_SDK_DISABLED, bad values named.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { connect, type Served, subscribe, until } from '../gateway/harness.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

interface Receiver {
  url: string;
  spans: OtlpSpan[];
  services: Set<string>;
  requests: { path: string; contentType: string; auth: string | undefined }[];
  close(): Promise<void>;
}

/** Accepts OTLP/HTTP JSON trace exports and keeps every span. */
async function startOtlpReceiver(): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    spans: [],
    services: new Set(),
    requests: [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      r.requests.push({
        path: req.url ?? '',
        contentType: String(req.headers['content-type']),
        auth: req.headers['x-collector-key'] as string | undefined,
      });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans) {
        for (const a of rs.resource.attributes)
          if (a.key === 'service.name' && a.value.stringValue) r.services.add(a.value.stringValue);
        for (const ss of rs.scopeSpans) r.spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}

describe('OpenTelemetry export', () => {
  let rx: Receiver;
  let t: TestHerald;
  beforeAll(async () => {
    rx = await startOtlpReceiver();
    t = await startTestHerald({
      listen: true,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k123',
        OTEL_SERVICE_NAME: 'herald-test',
        OTEL_BSP_SCHEDULE_DELAY: '50',
        HERALD_SEND_RATE_MAX: '1000',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await rx?.close();
  });

  const setup = async () => {
    const { tenant_id } = await t.createTenant();
    const alice = (await t.mintUser(tenant_id, 'alice')).access_token;
    const bob = (await t.mintUser(tenant_id, 'bob')).access_token;
    const res = await fetch(`${t.url}/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'group', title: 'g', members: ['bob'] }),
    });
    const conv = ((await res.json()) as { conversation: { id: string } }).conversation.id;
    const b = await connect({ url: `${(t.url as string).replace('http', 'ws')}/v1/ws` } as Served, bob);
    await subscribe(b, conv);
    return { alice, conv, b };
  };
  const send = (alice: string, conv: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/v1/conversations/${conv}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ body: 'traced' }),
    });
  /** The spans of one trace, once the four hops of the send have been exported. */
  const hops = async (traceId: string) => {
    await until(() => {
      const names = rx.spans.filter((s) => s.traceId === traceId).map((s) => s.name);
      return ['herald.commit', 'herald.publish', 'herald.deliver'].every((n) => names.includes(n));
    }, 'the exported spans');
    const of = rx.spans.filter((s) => s.traceId === traceId);
    const one = (name: string) => {
      const found = of.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0];
    };
    return { of, one };
  };

  it('HTTP send → commit → publish → socket write, one trace from the caller’s traceparent', async () => {
    const { alice, conv, b } = await setup();
    const traceId = '5b8efff798038103d269b633813fc60c';
    const callerSpan = 'eee19b7ec3c1b174';
    const res = await send(alice, conv, { traceparent: `00-${traceId}-${callerSpan}-01` });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-trace-id')).toBe(traceId);
    const { message } = (await res.json()) as { message: { seq: number } };
    const frame = await b.next('event', (f) => f.conversation === conv && f.seq === message.seq);
    expect(frame.trace).toBe(traceId);

    const { of, one } = await hops(traceId);
    const server = one('POST /v1/conversations/:id/messages');
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.kind).toBe(2); // SERVER
    const commit = one('herald.commit');
    expect(commit.parentSpanId).toBe(server.spanId);
    // The send wrote three outbox rows (the room's event, two inbox frames): each published…
    const publishes = of.filter((s) => s.name === 'herald.publish');
    expect(publishes).toHaveLength(3);
    for (const p of publishes) {
      expect(p.parentSpanId).toBe(commit.spanId);
      expect(p.kind).toBe(4); // PRODUCER
    }
    // …and delivered here only where a socket listens (bob's room and bob's inbox).
    await until(
      () => rx.spans.filter((s) => s.traceId === traceId && s.name === 'herald.deliver').length === 2,
      'both deliveries',
    );
    const delivers = rx.spans.filter((s) => s.traceId === traceId && s.name === 'herald.deliver');
    const publishIds = new Set(publishes.map((p) => p.spanId));
    for (const dsp of delivers) {
      expect(publishIds.has(dsp.parentSpanId as string)).toBe(true);
      expect(dsp.kind).toBe(5); // CONSUMER
    }
    expect(rx.services).toEqual(new Set(['herald-test']));
    expect(rx.requests.every((q) => q.path === '/v1/traces')).toBe(true);
    expect(rx.requests.every((q) => q.contentType.startsWith('application/json'))).toBe(true);
    expect(rx.requests.every((q) => q.auth === 'k123')).toBe(true);
    b.close();
  });

  it('without a traceparent the trace Herald starts is the X-Trace-Id, the frame’s trace and the spans’', async () => {
    const { alice, conv, b } = await setup();
    const res = await send(alice, conv);
    expect(res.status).toBe(201);
    const traceId = res.headers.get('x-trace-id') as string;
    expect(traceId).toMatch(/^[\da-f]{32}$/);
    const { message } = (await res.json()) as { message: { seq: number } };
    const frame = await b.next('event', (f) => f.conversation === conv && f.seq === message.seq);
    expect(frame.trace).toBe(traceId);
    const { one } = await hops(traceId);
    expect(one('POST /v1/conversations/:id/messages').parentSpanId ?? '').toBe('');
    b.close();
  });

  it('an invalid traceparent is ignored (a new trace), never an error', async () => {
    const { alice, conv, b } = await setup();
    for (const bad of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      'garbage',
    ]) {
      const res = await send(alice, conv, { traceparent: bad });
      expect(res.status).toBe(201);
      const id = res.headers.get('x-trace-id') as string;
      expect(id).toMatch(/^[\da-f]{32}$/);
      expect(bad).not.toContain(id);
    }
    b.close();
  });
});

describe('tracing configuration', () => {
  it('is off unless an OTLP endpoint is set, and off with OTEL_SDK_DISABLED', () => {
    expect(loadConfig({}).tracing).toBeNull();
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing,
    ).toBeNull();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      endpoint: 'http://collector:4318/v1/traces',
      headers: {},
      serviceName: 'herald',
      exportDelayMs: 5000,
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp',
      }).tracing?.endpoint,
    ).toBe('https://traces.example/otlp');
  });

  it('names the variable of a bad value', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(ConfigError);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(() =>
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }),
    ).toThrow(/OTEL_EXPORTER_OTLP_HEADERS/);
    expect(() => loadConfig({ OTEL_SDK_DISABLED: 'maybe' })).toThrow(/OTEL_SDK_DISABLED/);
  });
});

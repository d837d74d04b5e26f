// Stopping a node (real `herald serve` processes): SIGTERM/SIGINT drain with
// a bounded wait (HERALD_DRAIN_GRACE_MS), an idle node exits at once, a node
// whose clients leave exits when they have left, a second signal exits now; while it
// drains, /readyz answers 503 so a load balancer stops routing to it.
// Bounds are generous upper limits on a process, not timings.
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { NodeProcess } from '../support/cluster.ts';
import { waitFor } from '../support/redis.ts';
import { clusterEnabled, type Deployment, deployment, sdkClient, stopTimed, tenant } from './nodes.ts';

/** An SSE stream read to its end, like an EventSource that never closes on its own. */
async function sseStream(n: NodeProcess, token: string): Promise<{ ended: Promise<string> }> {
  const res = await fetch(`${n.url}/v1/sse?access_token=${token}`);
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const ended = (async () => {
    let text = '';
    const dec = new TextDecoder();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) return text;
        text += dec.decode(r.value);
      }
    } catch {
      return text;
    }
  })();
  return { ended };
}

describe.runIf(clusterEnabled)('stopping a node', () => {
  const deployments: Deployment[] = [];
  afterAll(async () => {
    for (const d of deployments) await d.cleanup();
  });

  it('an idle node exits 0 at once on SIGTERM and on SIGINT', async () => {
    const d = await deployment();
    deployments.push(d);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const n = await d.start();
      const { code, ms } = await stopTimed(n, signal);
      expect(code, n.output()).toBe(0);
      expect(ms).toBeLessThan(3_000);
    }
  });

  it('with SDK clients and an SSE stream: drains within the grace, every client told, then exits 0', async () => {
    const graceMs = 3_000;
    const d = await deployment({ HERALD_DRAIN_GRACE_MS: String(graceMs) });
    deployments.push(d);
    const api = await d.start({ HERALD_ROLES: 'api,relay' });
    const n = await d.start({ HERALD_ROLES: 'gateway' });
    const t = await tenant(d, api.url);
    const states: string[] = [];
    for (const user of ['alice', 'bob']) {
      const c = await sdkClient(d, api.url, t, user, n.wsUrl);
      c.on('state', (s) => states.push(`${user}:${s.to}`));
    }
    const stream = await sseStream(n, await t.token('carol'));

    const { code, ms } = await stopTimed(n, 'SIGTERM');
    expect(code, n.output()).toBe(0);
    // Every socket is told when to come back within the grace and closed by then at the latest.
    expect(ms).toBeLessThan(graceMs + 5_000);
    expect(n.output()).toContain('SIGTERM: draining 3 connections for up to 3.0 s');
    const sse = await stream.ended;
    expect(sse).toContain('"type":"drain"');
    expect(sse).toContain('event: close');
    expect(states).toEqual(expect.arrayContaining(['alice:reconnecting', 'bob:reconnecting']));
  });

  it('exits as soon as the clients have left, long before the grace', async () => {
    const d = await deployment({ HERALD_DRAIN_GRACE_MS: '60000' });
    deployments.push(d);
    const n = await d.start();
    const t = await tenant(d, n.url);
    const alice = await sdkClient(d, n.url, t, 'alice');
    const started = Date.now();
    const exited = n.kill('SIGTERM');
    await waitFor(() => n.output().includes('draining 1 connection'), 10_000, 'the drain line');
    alice.disconnect();
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r('still running'), 15_000)),
    ]);
    expect(code, n.output()).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000); // the grace is 60 s
  });

  it('while it drains, /readyz answers 503 NOT_READY with the reason (the balancer moves on); /healthz stays 200', async () => {
    const d = await deployment({ HERALD_DRAIN_GRACE_MS: '60000' });
    deployments.push(d);
    const n = await d.start();
    const t = await tenant(d, n.url);
    expect((await fetch(`${n.url}/readyz`)).status).toBe(200);
    // A client that stops reading: it never answers the close handshake, so the drain lasts
    // (a well-behaved client would leave at its reconnect_after_ms, at a random time).
    const ws = new WebSocket(`${n.wsUrl}?access_token=${await t.token('alice')}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('message', () => resolve());
      ws.once('error', reject);
    });
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const exited = n.kill('SIGTERM');
    await waitFor(() => n.output().includes('draining 1 connection'), 10_000, 'the drain line');
    const ready = await fetch(`${n.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('1');
    const body = (await ready.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('NOT_READY');
    expect(body.error.message).toMatch(/draining \(SIGTERM\) and stops within 60 s/);
    expect((await fetch(`${n.url}/healthz`)).status).toBe(200);
    // The readiness gauge ignores the drain: a rolling restart is not an outage to the alerts.
    expect(await (await fetch(`${n.url}/metrics`)).text()).toMatch(/^herald_ready 1$/m);
    // Requests in flight or on open connections are still served while draining.
    expect(
      (await fetch(`${n.url}/v1/inbox`, { headers: { authorization: `Bearer ${await t.token('bob')}` } }))
        .status,
    ).toBe(200);
    n.proc.kill('SIGTERM'); // the second signal: now
    expect(await exited).toBe(143);
    ws.terminate();
  });

  it('a second SIGINT exits at once, without waiting for the grace', async () => {
    const d = await deployment({ HERALD_DRAIN_GRACE_MS: '60000' });
    deployments.push(d);
    const n = await d.start();
    const t = await tenant(d, n.url);
    await sseStream(n, await t.token('alice'));
    const started = Date.now();
    const exited = n.kill('SIGINT');
    await waitFor(() => n.output().includes('draining 1 connection'), 10_000, 'the drain line');
    n.proc.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

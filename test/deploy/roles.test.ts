// Roles split across real `herald serve` processes on one PostgreSQL + Redis
// (HERALD_ROLES / --roles): an api-only node takes the writes, a gateway-only
// node delivers them, a relay-only node publishes; a node without a role
// refuses it in the catalog's shape.
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.ts';
import { waitFor } from '../support/redis.ts';
import { clusterEnabled, type Deployment, deployment, http, sdkClient, tenant } from './nodes.ts';

describe('HERALD_ROLES', () => {
  it('defaults to every role and names the setting and the accepted values when wrong', () => {
    expect(loadConfig({}).roles).toEqual({ api: true, gateway: true, relay: true });
    expect(loadConfig({ HERALD_ROLES: 'gateway, relay' }).roles).toEqual({
      api: false,
      gateway: true,
      relay: true,
    });
    expect(() => loadConfig({ HERALD_ROLES: 'api,worker' })).toThrow(
      'HERALD_ROLES must list roles from api, gateway, relay (comma-separated) or be "all", got "api,worker"',
    );
  });

  it('herald serve --roles rejects an unknown role with one line and exit code 2', async () => {
    const proc = spawn(process.execPath, ['bin/herald.mjs', 'serve', '--roles', 'api,edge'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => proc.on('exit', resolve));
    expect(code).toBe(2);
    expect(err.trim()).toBe(
      'herald: --roles must list roles from api, gateway, relay (comma-separated) or be "all", got "api,edge"',
    );
  });
});

describe.runIf(clusterEnabled)('roles split across processes', () => {
  const deployments: Deployment[] = [];
  afterAll(async () => {
    for (const d of deployments) await d.cleanup();
  });

  it('api-only, gateway-only and relay-only nodes deliver a message end to end; nothing is published without a relay', async () => {
    const d = await deployment();
    deployments.push(d);
    const api = await d.start({ HERALD_ROLES: 'api' });
    const gateway = await d.start({ HERALD_ROLES: 'gateway' });
    const t = await tenant(d, api.url);

    // Every role answers the probes and the metrics.
    for (const n of [api, gateway]) {
      expect((await fetch(`${n.url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${n.url}/metrics`)).text()).toContain('herald_http_requests_total');
    }

    // The gateway node refuses the API, before authentication, in the catalog's shape.
    const refused = await fetch(`${gateway.url}/v1/inbox`, {
      headers: { authorization: 'Bearer nope' },
    });
    expect(refused.status).toBe(404);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('NOT_FOUND');
    expect(body.error.message).toContain('HERALD_ROLES=gateway');

    // The api node refuses WebSocket upgrades and SSE likewise.
    const upgrade = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`${api.wsUrl}`);
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      ws.on('open', () => reject(new Error('the api node accepted a WebSocket')));
    });
    expect(upgrade.status).toBe(404);
    expect(JSON.parse(upgrade.body).error).toMatchObject({ code: 'NOT_FOUND' });
    expect(JSON.parse(upgrade.body).error.message).toContain('HERALD_ROLES=api');
    const sse = await fetch(`${api.url}/v1/sse`);
    expect(sse.status).toBe(404);
    expect(((await sse.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');

    // Bob listens on the gateway node (the SDK's HTTP calls go to the api node).
    const bob = await sdkClient(d, api.url, t, 'bob', gateway.wsUrl);
    const alice = await t.token('alice');
    const { conversation } = await http<{ conversation: { id: string } }>(
      api.url,
      'PUT',
      '/v1/direct/bob',
      alice,
    );
    const seen: number[] = [];
    bob.open(conversation.id, { sinceSeq: 0 }).on('event', ({ seq }: { seq: number }) => seen.push(seq));
    const { message } = await http<{ message: { seq: number } }>(
      api.url,
      'POST',
      `/v1/conversations/${conversation.id}/messages`,
      alice,
      { body: 'written on the api node' },
    );

    // No relay yet: the message is committed but stays in the outbox.
    const unpublished = async () =>
      Number(
        (await d.sql<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE published_at IS NULL'))[0].n,
      );
    await waitFor(async () => (await unpublished()) > 0, 5_000, 'the outbox row');
    // A few relay polls' worth (HERALD_RELAY_POLL_MS=100) with no relay node: nothing moves.
    const deadline = Date.now() + 1_000;
    await waitFor(() => Date.now() >= deadline, 2_000, 'one second of no relay');
    expect(seen).toEqual([]);
    expect(await unpublished()).toBeGreaterThan(0);

    // A relay-only node starts: the row is published and reaches Bob on the gateway node.
    const relay = await d.start({ HERALD_ROLES: 'relay' });
    await waitFor(() => seen.includes(message.seq), 15_000, 'delivery through the relay node');
    // The relay marks a batch published in the transaction that published it: a receiver can
    // see the frame a moment before that commit.
    await waitFor(async () => (await unpublished()) === 0, 5_000, 'the outbox marked published');
    const refusedByRelay = await fetch(`${relay.url}/v1/inbox`);
    expect(refusedByRelay.status).toBe(404);
  });
});

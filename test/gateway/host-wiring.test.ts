// The gateway as the host wires it (startHerald): the SSE route on herald.app,
// the WebSocket attached to herald.app.server, tokens verified by
// herald.auth, metrics on herald.metrics.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.ts';
import { createConversation } from '../../src/domain/conversations.ts';
import type { Gateway } from '../../src/gateway/index.ts';
import { type Herald, startHerald } from '../../src/host/herald.ts';
import { createLogger } from '../../src/host/logger.ts';
import { seedTenant } from '../support/fixtures.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';
import { Client, published, SECRET, until } from './harness.ts';

describe.each(backends())('gateway wired into the host (%s)', (backend: Backend) => {
  let store: TestStore;
  let herald: Herald;
  let gateway: Gateway;
  let port: number;
  beforeAll(async () => {
    store = await openTestStore(backend);
    const config = loadConfig({
      HERALD_RELAY_POLL_MS: '25',
      HERALD_DEMO: 'false',
      HERALD_JWT_SECRET: SECRET,
    });
    herald = await startHerald(config, { db: store.db, log: createLogger('silent') });
    gateway = herald.gateway;
    await herald.app.listen({ port: 0, host: '127.0.0.1' });
    port = (herald.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await gateway?.drain({ graceMs: 100 });
    await gateway?.close();
    await herald?.close();
    await store?.close();
  });

  it('serves /v1/ws and /v1/sse next to the HTTP API and exposes gateway metrics on /metrics', async () => {
    const tenant = await seedTenant(store.db, ['alice', 'bob']);
    const { id } = await createConversation(
      herald.deps,
      tenant,
      { type: 'user', user_id: 'alice' },
      {
        kind: 'group',
        title: 'g',
        members: ['bob'],
      },
    );
    await published(store.db, tenant);
    const token = (await herald.auth.tokens.mint({ tenant_id: tenant, user_id: 'bob', tenants: [tenant] }))
      .token;
    const c = new Client(new WebSocket(`ws://127.0.0.1:${port}/v1/ws?access_token=${token}`));
    await c.next('welcome');
    c.send({ type: 'subscribe', conversation: id, since_seq: 0 });
    await c.next('subscribed');
    await until(() => c.seqs(id).length === 1, 'the replayed event');

    const res = await fetch(
      `http://127.0.0.1:${port}/v1/sse?conversations=${id}&since_seq=0&access_token=${token}`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    await until(async () => {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
      return text.includes('"type":"subscribed"') && text.includes('id: ');
    }, 'the SSE replay');
    await reader.cancel();

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/herald_gateway_connections\{transport="ws"\} 1/);
    c.close();
  });
});

// Clients that give up mid-handshake: upgrade requests reset by the peer while they wait for
// their turn (the handshake pacer) or for the per-IP limiter must not take the node down, and
// the node keeps serving the next client.
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedTenant } from '../support/fixtures.ts';
import { openTestStore, type TestStore } from '../support/stores.ts';
import { connect, type Node, startNode } from './harness.ts';

describe('handshakes reset by the client', () => {
  let store: TestStore;
  let node: Node;
  beforeAll(async () => {
    store = await openTestStore('pglite');
    node = await startNode(store.db);
  });
  afterAll(async () => {
    await node?.close();
    await store?.close();
  });

  it.each([
    ['/v1/ws', 'queued for their turn'],
    ['/elsewhere', 'refused (404)'],
  ])(
    'a burst of upgrade requests to %s reset right after sending (%s) leaves the node serving',
    async (path) => {
      const request = [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${node.port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        '',
        '',
      ].join('\r\n');
      await Promise.all(
        Array.from(
          { length: 300 },
          () =>
            new Promise<void>((resolve) => {
              const s = tcpConnect(node.port, '127.0.0.1', () => {
                s.write(request, () => setImmediate(() => s.resetAndDestroy()));
              });
              s.on('error', () => {});
              s.on('close', () => resolve());
            }),
        ),
      );
      const tenant = await seedTenant(store.db, ['alice']);
      const c = await connect(node, await node.token(tenant, 'alice'));
      expect(c.of('welcome')).toHaveLength(1);
      c.close();
    },
  );
});

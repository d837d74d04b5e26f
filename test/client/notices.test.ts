// The notices store: initial sync, live `notice` frames, re-sync after a
// reconnect from the cursor (notices lose nothing), markNotice.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notice } from '../../src/client/index.ts';
import { FakeServer, waitFor } from './fake-server.ts';
import { barrierNotice, disconnectAll, makeClient } from './helpers.ts';

let server: FakeServer;
beforeEach(async () => {
  server = await FakeServer.start();
});
afterEach(async () => {
  disconnectAll();
  await server.close();
});

describe('notices store', () => {
  it('syncs every notice on connect (paging by version); the backlog is in the store, not emitted', async () => {
    for (let i = 1; i <= 5; i++) server.setNotice(`n${i}`, { read: i <= 2 });
    server.setNotice('n6', { dismissed: true });
    const client = makeClient(server, { noticesPageSize: 2 });
    const emitted: string[] = [];
    client.on('notice', (n) => emitted.push(n.id));
    client.connect();
    await waitFor(() => client.notices.synced, 'synced');
    const syncs = server.requests.filter((r) => r.path === '/v1/notices');
    expect(syncs.map((r) => r.query.get('since'))).toEqual(['0', '2', '4']);
    expect(client.notices.list().map((n) => n.id)).toEqual(['n5', 'n4', 'n3', 'n2', 'n1']);
    expect(client.notices.list({ includeDismissed: true })).toHaveLength(6);
    expect(client.notices.unreadCount()).toBe(3);
    expect(client.notices.cursor).toBe(6);
    expect(emitted).toEqual([]);
  });

  it('a notice frame is stored and emitted once; a flag update from another device only changes it', async () => {
    const client = makeClient(server);
    const emitted: Notice[] = [];
    const changes: string[] = [];
    client.on('notice', (n) => emitted.push(n));
    client.notices.on('change', (c) => changes.push(...c.notices.map((n) => `${n.id}:${n.read}`)));
    client.connect();
    await waitFor(() => client.notices.synced, 'synced');
    const v1 = server.setNotice('n1');
    server.last.send({ type: 'notice', notice: v1 });
    const v2 = server.setNotice('n1', { read: true });
    server.last.send({ type: 'notice', notice: v2 });
    server.last.send({ type: 'notice', notice: v1 }); // late, lower version
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await waitFor(() => emitted.length === 2, 'barrier');
    expect(emitted.map((n) => n.id)).toEqual(['n1', expect.stringMatching(/^barrier-/)]);
    expect(client.notices.get('n1')?.read).toBe(true);
    expect(changes.filter((c) => c.startsWith('n1'))).toEqual(['n1:false', 'n1:true']);
  });

  it('notices sent while the socket was down are synced and emitted after the reconnect', async () => {
    server.setNotice('old');
    const client = makeClient(server);
    const emitted: string[] = [];
    client.on('notice', (n) => emitted.push(n.id));
    client.connect();
    await waitFor(() => client.notices.synced, 'synced');
    const cursor = client.notices.cursor;
    server.last.close(4001);
    server.setNotice('while-away'); // its frame was never sent
    await waitFor(() => emitted.includes('while-away'), 'caught up');
    const syncs = server.requests.filter((r) => r.path === '/v1/notices');
    expect(syncs.map((r) => r.query.get('since'))).toEqual(['0', String(cursor)]);
    expect(client.notices.get('while-away')?.read).toBe(false);
    expect(emitted).toEqual(['while-away']);
  });

  it('a frame lost with a dropped socket does not move the cursor: the next sync still brings it', async () => {
    const client = makeClient(server);
    client.connect();
    await waitFor(() => client.notices.synced, 'synced');
    const first = server.last;
    const a = server.setNotice('a');
    const b = server.setNotice('b');
    first.send({ type: 'notice', notice: b }); // `a` was queued behind and lost with the socket
    await waitFor(() => client.notices.get('b') !== undefined, 'b live');
    expect(client.notices.cursor).toBe(0);
    first.close(4001);
    await waitFor(() => client.notices.get('a') !== undefined, 'a synced');
    expect(client.notices.get('a')).toEqual(a);
    expect(client.notices.cursor).toBe(b.version);
  });

  it('markNotice PATCHes /v1/notices/{id} and applies the answer to the store', async () => {
    server.setNotice('n1');
    const client = makeClient(server);
    client.connect();
    await waitFor(() => client.notices.synced, 'synced');
    const updated = await client.markNotice('n1', { read: true, escalated: true });
    const patch = server.requests.find((r) => r.method === 'PATCH');
    expect(patch?.path).toBe('/v1/notices/n1');
    expect(patch?.body).toEqual({ read: true, escalated: true });
    expect(updated).toMatchObject({ id: 'n1', read: true, escalated: true });
    expect(client.notices.get('n1')).toEqual(updated);
    expect(client.notices.unreadCount()).toBe(0);
    await expect(client.http.markNotice('nope', { read: true })).rejects.toMatchObject({
      code: 'NOTICE_NOT_FOUND',
    });
  });
});

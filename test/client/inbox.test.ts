// The inbox store: initial sync, live `inbox` frames, re-sync after a
// reconnect from the cursor, optimistic read.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTombstone } from '../../src/client/index.ts';
import { deferred, FakeServer, waitFor } from './fake-server.ts';
import { barrierNotice, disconnectAll, makeClient } from './helpers.ts';

let server: FakeServer;
beforeEach(async () => {
  server = await FakeServer.start();
});
afterEach(async () => {
  disconnectAll();
  await server.close();
});

describe('inbox store', () => {
  it('syncs the conversation list on connect: previews, counts, order, totals', async () => {
    server.setInbox('a', { last_activity_at: '2026-01-01T00:00:00Z', unread_count: 2, last_seq: 2 });
    server.setInbox('b', {
      last_activity_at: '2026-01-03T00:00:00Z',
      unread_count: 1,
      mention_count: 1,
      last_seq: 5,
    });
    server.setInbox('c', { last_activity_at: '2026-01-02T00:00:00Z', pinned: true });
    server.setInbox('m', { last_activity_at: '2026-01-04T00:00:00Z', unread_count: 7, muted: true });
    server.setInbox('z', { archived: true, unread_count: 9 });
    const client = makeClient(server);
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    expect(client.inbox.list().map((e) => e.conversation_id)).toEqual(['c', 'm', 'b', 'a']);
    expect(client.inbox.list({ includeArchived: true }).at(-1)?.conversation_id).toBe('z');
    expect(client.inbox.totals()).toEqual({ unread: 3, mentions: 1 });
    expect(client.inbox.cursor).toBe(5);
  });

  it('applies `inbox` frames and ignores stale ones', async () => {
    const client = makeClient(server);
    const changes: string[] = [];
    client.on('inbox', (c) =>
      changes.push(...c.entries.map((e) => `${e.conversation_id}:${e.unread_count}`)),
    );
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    const v1 = server.setInbox('a', { unread_count: 1 });
    const v2 = server.setInbox('a', { unread_count: 2 });
    server.last.send({ type: 'inbox', entry: v2 });
    server.last.send({ type: 'inbox', entry: v1 }); // late, lower version
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(client.inbox.get('a')?.unread_count).toBe(2);
    expect(changes).toEqual(['a:2']);
  });

  it('applies `inbox_hint` in place: raises last_seq, derives unread, never lowers; a newer entry wins', async () => {
    const e0 = server.setInbox('big', {
      kind: 'channel',
      last_seq: 10,
      last_read_seq: 8,
      unread_count: 2,
      last_activity_at: '2026-01-01T00:00:00.000Z',
    });
    server.setInbox('quiet', { kind: 'channel', last_seq: 5, last_read_seq: 5, muted: true });
    const client = makeClient(server);
    const changes: string[] = [];
    client.on('inbox', (c) => changes.push(...c.entries.map((e) => `${e.conversation_id}:${e.last_seq}`)));
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    changes.length = 0;
    const preview = {
      message_id: 'm14',
      seq: 14,
      sender: { type: 'user' as const, user_id: 'ann' },
      body: 'hi',
      kind: 'channel' as const,
      created_at: '2026-01-02T00:00:00.000Z',
    };
    const send = (f: Record<string, unknown>) => server.last.send(f);
    send({
      type: 'inbox_hint',
      conversation: 'big',
      last_seq: 14,
      last_activity_at: preview.created_at,
      last_message: preview,
    });
    send({ type: 'inbox_hint', conversation: 'big', last_seq: 12 }); // older: lowers nothing
    send({ type: 'inbox_hint', conversation: 'nope', last_seq: 3 }); // unknown: left to the sync
    send({ type: 'inbox_hint', conversation: 'quiet', last_seq: 9 }); // muted: no badge
    send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    const big = client.inbox.get('big');
    expect(big).toMatchObject({ last_seq: 14, unread_count: 6, version: e0.version, last_message: preview });
    expect(big?.last_activity_at).toBe(preview.created_at);
    expect(client.inbox.get('nope')).toBeUndefined();
    expect(client.inbox.get('quiet')).toMatchObject({ last_seq: 9, unread_count: 4 });
    expect(client.inbox.totals().unread).toBe(6);
    expect(changes).toEqual(['big:14', 'quiet:9']);

    // The same version again (a page behind the hint) keeps the raised entry; a newer one wins.
    send({ type: 'inbox', entry: e0 });
    const e1 = server.setInbox('big', { kind: 'channel', last_seq: 14, last_read_seq: 14, unread_count: 0 });
    send({ type: 'inbox', entry: e1 });
    send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(client.inbox.get('big')).toMatchObject({ last_seq: 14, unread_count: 0, version: e1.version });
    expect(changes).toEqual(['big:14', 'quiet:9', 'big:14']);
  });

  it('re-syncs after a reconnect with since=<cursor>, picking up what changed while away', async () => {
    server.setInbox('a');
    const client = makeClient(server);
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    const cursor = client.inbox.cursor;
    server.last.close(4001);
    server.setInbox('b', { unread_count: 4 }); // changed while offline; its frame was never sent
    await waitFor(() => client.inbox.get('b') !== undefined, 're-synced');
    const syncs = server.requests.filter((r) => r.path === '/v1/inbox');
    expect(syncs.map((r) => r.query.get('since'))).toEqual(['0', String(cursor)]);
    expect(client.inbox.get('b')?.unread_count).toBe(4);
  });

  it('pages a long inbox until has_more is false', async () => {
    for (let i = 0; i < 5; i++) server.setInbox(`c${i}`);
    const client = makeClient(server, { inboxPageSize: 2 });
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    expect(client.inbox.list()).toHaveLength(5);
    expect(server.requests.filter((r) => r.path === '/v1/inbox').length).toBe(3);
  });

  it('read(conversation, seq) sends a read frame, drops counts at once, and is coalesced', async () => {
    server.setInbox('a', { last_seq: 5, unread_count: 3, mention_count: 1 });
    const client = makeClient(server);
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    client.read('a', 5);
    client.read('a', 4); // lower: nothing to do
    expect(client.inbox.get('a')).toMatchObject({ last_read_seq: 5, unread_count: 0, mention_count: 0 });
    await server.last.waitForFrame('read');
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(server.last.framesOf('read')).toEqual([{ type: 'read', conversation: 'a', seq: 5 }]);
  });

  it('a read made offline is delivered after connecting', async () => {
    const client = makeClient(server);
    client.read('a', 3);
    client.connect();
    await client.ready();
    expect(await server.last.waitForFrame('read')).toEqual({ type: 'read', conversation: 'a', seq: 3 });
  });

  it('a tombstone (removed: true) with a higher version drops the conversation; a newer entry brings it back', async () => {
    server.setInbox('a', { unread_count: 2 });
    server.setInbox('b');
    const client = makeClient(server);
    const changes: string[] = [];
    client.on('inbox', (c) =>
      changes.push(...c.entries.map((e) => `${e.conversation_id}:${isTombstone(e) ? 'removed' : e.version}`)),
    );
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    const before = client.inbox.get('a');
    // Live: the `inbox` frame the server sends when we leave or are removed.
    const tomb = server.setInbox('a', { removed: true });
    server.last.send({ type: 'inbox', entry: tomb });
    server.last.send({ type: 'inbox', entry: before }); // late, lower version: must not resurrect it
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(client.inbox.get('a')).toBeUndefined();
    expect(client.inbox.isRemoved('a')).toBe(true);
    expect(client.inbox.list().map((e) => e.conversation_id)).toEqual(['b']);
    expect(client.inbox.totals().unread).toBe(0);
    // Re-added (joined again): a plain entry with a higher version.
    const back = server.setInbox('a', { unread_count: 1 });
    server.last.send({ type: 'inbox', entry: back });
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(client.inbox.get('a')).toEqual(back);
    expect(client.inbox.isRemoved('a')).toBe(false);
    expect(changes.filter((c) => c.startsWith('a'))).toEqual([
      `a:${before?.version}`,
      'a:removed',
      `a:${back.version}`,
    ]);
  });

  it('GET /v1/inbox?since= tombstones picked up after a reconnect remove the conversation', async () => {
    server.setInbox('a');
    server.setInbox('b');
    const client = makeClient(server);
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced');
    const cursor = client.inbox.cursor;
    server.last.close(4001);
    server.setInbox('a', { removed: true }); // removed while we were away; no frame reached us
    await waitFor(() => client.inbox.get('a') === undefined, 'tombstone synced');
    const syncs = server.requests.filter((r) => r.path === '/v1/inbox');
    expect(syncs.map((r) => r.query.get('since'))).toEqual(['0', String(cursor)]);
    expect(client.inbox.list().map((e) => e.conversation_id)).toEqual(['b']);
    // A first sync from 0 that meets a tombstone for a conversation never held stores nothing.
    const fresh = makeClient(server);
    fresh.connect();
    await waitFor(() => fresh.inbox.synced, 'fresh synced');
    expect(fresh.inbox.list().map((e) => e.conversation_id)).toEqual(['b']);
  });

  it('a sync that gets no answer (a dead connection) is given up after requestTimeoutMs and retried', async () => {
    // Found by the chaos test: a request on a connection whose path had died waited for ever
    // (fetch has no timeout), and every later sync joined the one that hung.
    server.setInbox('a');
    const never = deferred();
    let asked = 0;
    server.onHttp = async (req) => {
      if (req.path === '/v1/inbox' && asked++ === 0) await never.promise;
      return undefined;
    };
    const client = makeClient(server, { requestTimeoutMs: 300 });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    client.connect();
    await waitFor(() => client.inbox.synced, 'synced after the timeout');
    expect(client.inbox.get('a')).toBeDefined();
    expect(errors).toEqual(['NETWORK_ERROR']);
    expect(asked).toBe(2);
    never.resolve();
  });

  it('a sync cut short by disconnect() stops paging, and the next connection still syncs', async () => {
    server.setInbox('a');
    const hold = deferred();
    let held = false;
    server.onHttp = async (req) => {
      if (req.path === '/v1/inbox' && !held) {
        held = true;
        await hold.promise;
      }
      return undefined;
    };
    const client = makeClient(server);
    client.connect();
    await waitFor(() => held, 'first sync in flight');
    client.disconnect();
    server.setInbox('b');
    client.connect();
    await client.ready();
    hold.resolve(); // the stale page is dropped; the sync asked for by the new welcome runs
    await waitFor(() => client.inbox.get('b') !== undefined, 'synced on the new connection');
    expect(
      client.inbox
        .list()
        .map((e) => e.conversation_id)
        .sort(),
    ).toEqual(['a', 'b']);
  });
});

// WebSockets blocked: a real node behind a proxy that refuses (or strips)
// Upgrade. The SDK moves to the SSE downlink + HTTP writes after a few failed
// dials, and the conversation works as over WebSocket — live delivery both
// ways, sends confirmed once, reads, a conversation opened later, resume and
// gap repair after the stream is cut mid-flight — and it moves back to
// WebSocket once a probe gets through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HeraldClient, type HeraldClientOptions } from '../../src/client/index.ts';
import type { InboxEntry, Message } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';
import { type Backend, backends } from '../support/stores.ts';
import { BlockingProxy } from './blocking-proxy.ts';

describe.each(backends())(
  'SSE + HTTP fallback behind a proxy that blocks WebSockets (%s)',
  (backend: Backend) => {
    let t: TestHerald;
    let proxy: BlockingProxy;
    const clients: HeraldClient[] = [];
    beforeAll(async () => {
      t = await startTestHerald({ backend, listen: true, env: { HERALD_SEND_RATE_MAX: '10000' } });
      proxy = await BlockingProxy.start(t.url as string);
    }, 60_000);
    afterAll(async () => {
      for (const c of clients) c.disconnect();
      await proxy?.close();
      await t?.close();
    });

    async function client(
      tenant: string,
      user: string,
      opts: Partial<HeraldClientOptions> = {},
    ): Promise<HeraldClient> {
      const pair = await t.mintUser(tenant, user);
      const c = new HeraldClient({
        url: t.url as string,
        token: pair.access_token,
        getToken: async () => (await t.mintUser(tenant, user)).access_token,
        WebSocket,
        storage: false,
        backoff: { baseMs: 50, maxMs: 300 },
        ...opts,
      });
      clients.push(c);
      return c;
    }

    async function history(c: HeraldClient, conversation: string): Promise<Message[]> {
      const page = await c.http.messages(conversation, { limit: 200 });
      return page.messages.sort((a, b) => a.seq - b.seq);
    }

    async function serverEntry(c: HeraldClient, conversation: string): Promise<InboxEntry | undefined> {
      return (await c.http.inbox()).entries.find((e) => e.conversation_id === conversation);
    }

    it('falls back after refused upgrades; flows, cuts and resumes lose and duplicate nothing', async () => {
      proxy.mode = 'refuse';
      const { tenant_id } = await t.createTenant();
      const bob = await client(tenant_id, 'bob'); // direct, over WebSocket
      bob.connect();
      await bob.ready();
      const alice = await client(tenant_id, 'alice', {
        url: proxy.url,
        fallback: { after: 2, probeMs: 600_000 },
      });
      const moves: string[] = [];
      alice.on('transport', (m) => moves.push(`${m.from}>${m.to}:${m.connected}`));
      const { conversation } = await bob.http.direct('alice');
      const conv = conversation.id;
      const bobRoom = bob.open(conv, { sinceSeq: 0 });
      const room = alice.open(conv, { sinceSeq: 0 });
      const applied: number[] = [];
      room.on('event', ({ seq }) => applied.push(seq));
      alice.connect();
      await alice.ready();
      expect(alice.transport).toBe('sse');
      expect(moves).toEqual(['websocket>sse:false', 'websocket>sse:true']);
      expect(proxy.upgradesRefused).toBeGreaterThanOrEqual(2);

      // Both ways, interleaved: alice's sends go over HTTP and are confirmed once each.
      const sends = [];
      for (let i = 0; i < 5; i++) {
        sends.push(alice.send(conv, `a${i}`));
        sends.push(bob.send(conv, `b${i}`));
      }
      await Promise.all(sends.map((s) => s.done));
      await waitFor(() => room.lastSeq === 10 && bobRoom.lastSeq === 10, 10_000, 'both see all ten');

      // Typing from bob reaches alice over the stream.
      bob.typing(conv);
      await waitFor(() => alice.typingUsers(conv).includes('bob'), 10_000, 'typing over SSE');
      // And alice's typing goes up over HTTP (POST …/typing) to bob's socket.
      alice.typing(conv);
      await waitFor(() => bob.typingUsers(conv).includes('alice'), 10_000, 'typing over HTTP');

      // Reads over HTTP: the server and the client agree.
      alice.read(conv, 10);
      await waitFor(
        async () => (await serverEntry(alice, conv))?.unread_count === 0,
        10_000,
        'read reached the server',
      );

      // The stream is cut mid-flight, twice, while both keep writing.
      const more = [];
      for (let i = 0; i < 3; i++) more.push(alice.send(conv, `offline-a${i}`));
      proxy.cut();
      for (let i = 0; i < 5; i++) more.push(bob.send(conv, `during-cut-b${i}`));
      await waitFor(() => alice.state === 'connected', 10_000, 'back after the cut');
      proxy.cut();
      for (let i = 0; i < 2; i++) more.push(alice.send(conv, `after-a${i}`));
      await Promise.all(more.map((s) => s.done));
      const server = await history(bob, conv);
      expect(server).toHaveLength(20);
      await waitFor(() => room.lastSeq === 20 && bobRoom.lastSeq === 20, 10_000, 'caught up');
      expect(applied).toEqual(server.map((m) => m.seq)); // once each, in order, no hole
      expect(room.messages().map((m) => m.id)).toEqual(server.map((m) => m.id));
      for (const s of [...sends, ...more])
        expect(server.filter((m) => m.client_id === s.client_id)).toHaveLength(1);
      expect(alice.pending()).toEqual([]);

      // A conversation opened while on SSE: the stream reopens with it, nothing else is disturbed.
      const { conversation: group } = await bob.http.request<{ conversation: { id: string } }>(
        'POST',
        '/v1/conversations',
        { body: { kind: 'group', title: 'later', members: ['alice'] } },
      );
      bob.open(group.id, { sinceSeq: 0 });
      const first = await bob.send(group.id, 'in the group').done;
      const groupRoom = alice.open(group.id, { sinceSeq: 0 });
      await waitFor(() => groupRoom.lastSeq === first.seq, 10_000, 'group over SSE');
      const second = await bob.send(group.id, 'live in the group').done;
      await waitFor(() => groupRoom.lastSeq === second.seq, 10_000, 'group live');
      const fromAlice = await alice.send(group.id, 'alice in the group').done;
      expect(fromAlice.seq).toBe(second.seq + 1);
      expect(alice.transport).toBe('sse');

      // Unread counts match the server's.
      await waitFor(
        async () =>
          (await serverEntry(bob, conv))?.unread_count === bob.inbox.get(conv)?.unread_count &&
          (await serverEntry(alice, conv))?.unread_count === alice.inbox.get(conv)?.unread_count,
        10_000,
        'unread counts agree',
      );
    });

    it('a proxy that strips Upgrade (the node sees a plain GET) makes it fall back too', async () => {
      proxy.mode = 'strip';
      const { tenant_id } = await t.createTenant();
      const alice = await client(tenant_id, 'alice', {
        url: proxy.url,
        fallback: { after: 2, probeMs: 600_000 },
      });
      const bob = await client(tenant_id, 'bob');
      bob.connect();
      const { conversation } = await alice.http.direct('bob');
      const room = alice.open(conversation.id, { sinceSeq: 0 });
      alice.connect();
      await alice.ready();
      expect(alice.transport).toBe('sse');
      await bob.ready();
      const m = await bob.send(conversation.id, 'through the stream').done;
      await waitFor(() => room.lastSeq === m.seq, 10_000, 'delivered over SSE');
    });

    it('probes WebSocket while on SSE and moves back when it gets through, losing nothing', async () => {
      proxy.mode = 'refuse';
      const { tenant_id } = await t.createTenant();
      const bob = await client(tenant_id, 'bob');
      bob.connect();
      await bob.ready();
      const alice = await client(tenant_id, 'alice', {
        url: proxy.url,
        fallback: { after: 1, probeMs: 100, maxProbeMs: 200 },
      });
      const { conversation } = await bob.http.direct('alice');
      const conv = conversation.id;
      const room = alice.open(conv, { sinceSeq: 0 });
      alice.connect();
      await alice.ready();
      expect(alice.transport).toBe('sse');
      const before = proxy.upgradesRefused;
      await waitFor(() => proxy.upgradesRefused >= before + 2, 10_000, 'probes refused');
      expect(alice.transport).toBe('sse');

      const sends = [alice.send(conv, 'on sse'), bob.send(conv, 'to sse')];
      proxy.mode = 'allow';
      sends.push(bob.send(conv, 'while switching'), alice.send(conv, 'while switching too'));
      await waitFor(
        () => alice.transport === 'websocket' && alice.state === 'connected',
        10_000,
        'back on WebSocket',
      );
      sends.push(alice.send(conv, 'on ws'), bob.send(conv, 'to ws'));
      await Promise.all(sends.map((s) => s.done));
      const server = await history(bob, conv);
      expect(server).toHaveLength(6);
      await waitFor(() => room.lastSeq === 6, 10_000, 'alice caught up');
      expect(room.messages().map((m) => m.id)).toEqual(server.map((m) => m.id));
    });
  },
);

// The SDK against a real Herald node (HTTP API + gateway on one listening
// server): live delivery, resume after a disconnect, optimistic send
// reconciliation, the inbox store and "arrives read"; the token as a
// subprotocol and the notices store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HeraldClient, type WebSocketConstructor } from '../../src/client/index.ts';
import type { ConversationEvent } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';
import { sdkClient } from '../support/sdk-client.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('SDK against a real node (%s)', (backend: Backend) => {
  let t: TestHerald;
  const clients: HeraldClient[] = [];
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true, env: { HERALD_SEND_RATE_MAX: '10000' } });
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await t?.close();
  });

  const client = (tenant: string, user: string) => sdkClient(t, tenant, user, { clients });

  it('delivers live, resumes after a disconnect with every event once, and reconciles sends', async () => {
    const { tenant_id } = await t.createTenant();
    const alice = await client(tenant_id, 'alice');
    const bob = await client(tenant_id, 'bob');
    const { conversation } = await alice.http.direct('bob');

    const seen: number[] = [];
    const room = bob.open(conversation.id, { sinceSeq: 0 });
    room.on('event', ({ seq }: { seq: number; event: ConversationEvent }) => seen.push(seq));
    alice.open(conversation.id, { sinceSeq: 0 });

    const first = alice.send(conversation.id, 'one');
    const m1 = await first.done;
    await waitFor(() => seen.includes(m1.seq), 10_000, 'live delivery');

    // Bob goes away; Alice keeps writing; Bob comes back and resumes from his last seq.
    bob.disconnect();
    const later = [alice.send(conversation.id, 'two'), alice.send(conversation.id, 'three')];
    const seqs = await Promise.all(later.map((o) => o.done.then((m) => m.seq)));
    bob.connect();
    await waitFor(() => seqs.every((s) => seen.includes(s)), 10_000, 'resume after reconnect');
    expect(seen).toEqual([...new Set(seen)].sort((a, b) => a - b)); // once each, in order
    expect(seen.at(-1)).toBe(Math.max(...seqs));
    expect(alice.pending()).toEqual([]);

    // Bob's inbox store counts the two unread messages, and reading clears them.
    await waitFor(() => bob.inbox.get(conversation.id)?.unread_count === 3, 10_000, 'inbox unread');
    bob.read(conversation.id, Math.max(...seqs));
    await waitFor(() => bob.inbox.get(conversation.id)?.unread_count === 0, 10_000, 'inbox read');

    // Viewing the thread: the next message arrives already read.
    bob.view(conversation.id);
    await waitFor(
      async () => {
        const m = await alice.send(conversation.id, 'seen?').done;
        // A late inbox frame is one more round of the outer retry, not the end of the test.
        const arrived = await waitFor(
          () => (bob.inbox.get(conversation.id)?.last_seq ?? 0) >= m.seq,
          5_000,
          'inbox frame',
        ).then(
          () => true,
          () => false,
        );
        return arrived && bob.inbox.get(conversation.id)?.last_read_seq === m.seq;
      },
      20_000,
      'message to a viewer arriving read',
    );
  });

  it('dials with the token as a subprotocol, never in the URL, and syncs notices missed while offline', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const pair = await t.mintUser(tenant_id, 'carol');
    const dials: { url: string; protocols: unknown }[] = [];
    class RecordingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        dials.push({ url, protocols });
        super(url, protocols);
      }
    }
    const carol = new HeraldClient({
      url: t.url as string,
      token: pair.access_token,
      WebSocket: RecordingWebSocket as unknown as WebSocketConstructor,
    });
    clients.push(carol);
    const emitted: string[] = [];
    carol.on('notice', (n) => emitted.push(n.title));
    carol.connect();
    await carol.ready();
    expect(dials[0].url).not.toContain('access_token');
    expect(dials[0].url).not.toContain(pair.access_token);
    expect(dials[0].protocols).toEqual(['herald.v1', `herald.bearer.${pair.access_token}`]);
    await waitFor(() => carol.notices.synced, 10_000, 'first notices sync');

    const notify = async (title: string) => {
      const res = await t.call({
        method: 'POST',
        url: '/v1/notices',
        headers: t.bearer(api_key),
        payload: { to: ['carol'], title, body: `${title} body` },
      });
      expect(res.status).toBe(201);
    };
    await notify('live');
    await waitFor(() => emitted.includes('live'), 10_000, 'live notice');
    carol.disconnect();
    await notify('while away'); // no socket: only the sync after the next welcome can bring it
    carol.connect();
    await waitFor(() => emitted.includes('while away'), 10_000, 'notice synced after reconnect');
    expect(emitted).toEqual(['live', 'while away']);
    expect(carol.notices.list().map((n) => n.title)).toEqual(['while away', 'live']);
    expect(carol.notices.unreadCount()).toBe(2);
    const first = carol.notices.list()[0];
    const updated = await carol.markNotice(first.id, { read: true });
    expect(updated).toMatchObject({ id: first.id, read: true });
    expect(carol.notices.get(first.id)?.read).toBe(true);
    expect(carol.notices.unreadCount()).toBe(1);
  });
});

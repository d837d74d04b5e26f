// A reload mid-conversation against a real node: the page closes with one
// send committed on the server but unacknowledged (its ack lost) and one
// never written; the other user keeps writing meanwhile. A new client over the
// same IndexedDB (fake-indexeddb) shows the cached timeline before any
// network, sends both exactly once (the server's idempotency on client_id
// returns the original for the first), and ends with its timeline equal to
// the server's history and its unread counts equal to the server's.
import { IDBFactory } from 'fake-indexeddb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  HeraldClient,
  type HeraldStorage,
  indexedDbStorage,
  type WebSocketConstructor,
} from '../../src/client/index.ts';
import type { InboxEntry, Message } from '../../src/protocol/index.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';
import { type Backend, backends } from '../support/stores.ts';

/** A socket whose traffic the test can cut per direction: `deaf` drops what arrives, `mute` what goes. */
function cuttableSocket() {
  const cut = { deaf: false, mute: false };
  class CuttableWebSocket extends WebSocket {
    override send(data: string): void {
      if (!cut.mute) super.send(data);
    }
    override addEventListener(type: string, listener: (ev: unknown) => void): void {
      if (type !== 'message') {
        super.addEventListener(type as 'open', listener);
        return;
      }
      super.addEventListener('message', (ev) => {
        if (!cut.deaf) listener(ev);
      });
    }
  }
  return { cut, WebSocket: CuttableWebSocket as unknown as WebSocketConstructor };
}

/** Writes pass through until sever(): a closed tab writes nothing more. */
function severable(inner: HeraldStorage): HeraldStorage & { sever(): void } {
  let dead = false;
  return {
    load: () => inner.load(),
    write: async (ops) => {
      if (!dead) await inner.write(ops);
    },
    clear: async () => {
      if (!dead) await inner.clear();
    },
    sever: () => {
      dead = true;
    },
  };
}

describe.each(backends())('reload mid-conversation against a real node (%s)', (backend: Backend) => {
  let t: TestHerald;
  const clients: HeraldClient[] = [];
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true, env: { HERALD_SEND_RATE_MAX: '10000' } });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await t?.close();
  });

  function client(
    tenant: string,
    user: string,
    token: string,
    extra: Partial<ConstructorParameters<typeof HeraldClient>[0]> = {},
  ): HeraldClient {
    const c = new HeraldClient({
      url: t.url as string,
      token,
      getToken: async () => (await t.mintUser(tenant, user)).access_token,
      WebSocket,
      storage: false,
      ...extra,
    });
    clients.push(c);
    return c;
  }

  async function history(token: string, conversation: string): Promise<Message[]> {
    const res = await t.call<{ messages: Message[] }>({
      method: 'GET',
      url: `/v1/conversations/${conversation}/messages?limit=200`,
      headers: t.bearer(token),
    });
    return res.body.messages.sort((a, b) => a.seq - b.seq);
  }

  async function serverEntry(token: string, conversation: string): Promise<InboxEntry | undefined> {
    const res = await t.call<{ entries: InboxEntry[] }>({
      method: 'GET',
      url: '/v1/inbox',
      headers: t.bearer(token),
    });
    return res.body.entries.find((e) => e.conversation_id === conversation);
  }

  it('loses nothing and duplicates nothing', async () => {
    const { tenant_id } = await t.createTenant();
    const alicePair = await t.mintUser(tenant_id, 'alice');
    const bobPair = await t.mintUser(tenant_id, 'bob');
    const bob = client(tenant_id, 'bob', bobPair.access_token);
    bob.connect();
    await bob.ready();
    const { conversation } = await bob.http.direct('alice');
    const conv = conversation.id;
    const bobRoom = bob.open(conv, { sinceSeq: 0 });

    const browser = new IDBFactory(); // the browser profile: survives the tab
    const pageStorage = severable(indexedDbStorage({ indexedDB: browser, name: 'herald:alice' }));
    const net = cuttableSocket();
    const page = client(tenant_id, 'alice', alicePair.access_token, {
      storage: pageStorage,
      WebSocket: net.WebSocket,
    });
    const pageRoom = page.open(conv, { sinceSeq: 0 });
    page.connect();
    await page.ready();
    for (const body of ['hi bob', 'are you there?']) await page.send(conv, body).done;
    for (const body of ['yes', 'here']) await bob.send(conv, body).done;
    await waitFor(() => pageRoom.lastSeq === 4, 10_000, 'alice sees the four');
    page.read(conv, 4);
    await waitFor(
      async () => (await serverEntry(alicePair.access_token, conv))?.last_read_seq === 4,
      10_000,
      'read',
    );

    // 1: written and committed, but the page hears nothing more (its ack is lost).
    net.cut.deaf = true;
    const committed = page.send(conv, 'committed, unacknowledged');
    await waitFor(
      async () =>
        (await history(alicePair.access_token, conv)).some((m) => m.client_id === committed.client_id),
      10_000,
      'committed on the server',
    );
    // 2: never leaves the page.
    net.cut.mute = true;
    const unsent = page.send(conv, 'never written');
    const cachedAtClose = pageRoom.messages().map((m) => m.id);
    await page.persisted();
    pageStorage.sever();
    page.disconnect(); // the tab is gone; nothing of this reaches the storage any more

    // The offline period: bob writes on.
    for (const body of ['alice?', 'hello?']) await bob.send(conv, body).done;

    // The reload: a new client over the same database, before any network.
    const reloaded = client(tenant_id, 'alice', alicePair.access_token, {
      storage: indexedDbStorage({ indexedDB: browser, name: 'herald:alice' }),
    });
    await reloaded.restored;
    const room = reloaded.open(conv);
    expect(room.lastSeq).toBe(4);
    expect(room.messages().map((m) => m.id)).toEqual(cachedAtClose);
    expect(reloaded.pending().map((m) => [m.client_id, m.body])).toEqual([
      [committed.client_id, 'committed, unacknowledged'],
      [unsent.client_id, 'never written'],
    ]);
    const confirmations = reloaded.pending().map((m) => m.done);
    reloaded.connect();
    const [first, second] = await Promise.all(confirmations);
    expect(first.seq).toBe(5); // the original, returned by the server's idempotency
    expect(second.seq).toBeGreaterThan(7);

    const server = await history(alicePair.access_token, conv);
    expect(server.filter((m) => m.client_id === committed.client_id)).toHaveLength(1);
    expect(server.filter((m) => m.client_id === unsent.client_id)).toHaveLength(1);
    expect(server).toHaveLength(8);
    await waitFor(() => room.lastSeq === server.at(-1)?.seq, 10_000, 'alice caught up');
    expect(room.messages().map((m) => [m.seq, m.id, m.body])).toEqual(
      server.map((m) => [m.seq, m.id, m.body]),
    );
    expect(reloaded.pending()).toEqual([]);
    await waitFor(() => bobRoom.lastSeq === server.at(-1)?.seq, 10_000, 'bob caught up');
    expect(bobRoom.messages().map((m) => m.id)).toEqual(server.map((m) => m.id));

    // Unread counts: the client's stores equal the server's entries, for both users.
    const expectUnread = async (c: HeraldClient, token: string, unread: number) => {
      let seen = '';
      await waitFor(
        async () => {
          const mine = c.inbox.get(conv)?.unread_count;
          const theirs = (await serverEntry(token, conv))?.unread_count;
          seen = `client ${mine}, server ${theirs}`;
          return mine === unread && theirs === unread;
        },
        10_000,
        `unread ${unread}`,
      ).catch((err: Error) => {
        throw new Error(`${err.message} (${seen})`);
      });
    };
    // A send counts as reading up to it: alice's resend at seq 8 read bob's 6 and 7; bob's last
    // own message is 7, so alice's 8 is his one unread (a duplicate would make it 2).
    await expectUnread(reloaded, alicePair.access_token, 0);
    await expectUnread(bob, bobPair.access_token, 1);
    const welcomeBack = await bob.send(conv, 'welcome back').done;
    await expectUnread(reloaded, alicePair.access_token, 1);
    reloaded.read(conv, welcomeBack.seq);
    bob.read(conv, welcomeBack.seq);
    await expectUnread(reloaded, alicePair.access_token, 0);
    await expectUnread(bob, bobPair.access_token, 0);
    await waitFor(() => room.lastSeq === welcomeBack.seq, 10_000, 'live after the reload');

    // What the storage holds now: nothing pending, the position at the head.
    await reloaded.persisted();
    const stored = await indexedDbStorage({ indexedDB: browser, name: 'herald:alice' }).load();
    expect(stored.pending).toEqual([]);
    expect(stored.identity).toMatchObject({ tenant_id, user_id: 'alice' });
    expect(stored.conversations.find((c) => c.conversation === conv)?.last_seq).toBe(welcomeBack.seq);
  });
});

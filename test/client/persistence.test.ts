// Offline storage in the client, against the scriptable fake server: a
// reload (a new HeraldClient over the same storage) shows the cached timeline
// at once and sends what was pending exactly once; the cache is bounded;
// unsent reads survive; another user's records are never used; storage
// failures are reported and never stop messaging. The same against a real
// node: real-node-reload.test.ts.
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type HeraldClient,
  type HeraldClientError,
  type HeraldStorage,
  indexedDbStorage,
  memoryStorage,
} from '../../src/client/index.ts';
import { FakeServer, waitFor } from './fake-server.ts';
import { disconnectAll, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  await server?.close();
});

/**
 * A storage a "page" writes through until it dies: after sever() its writes are dropped, as a
 * closed tab writes nothing. The next client gets the underlying storage.
 */
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
    sever() {
      dead = true;
    },
  };
}

/** The page "closes": what it queued is written, then it can neither write nor reach the server. */
async function closePage(page: HeraldClient, storage: { sever(): void }): Promise<void> {
  await page.persisted();
  storage.sever();
  page.disconnect();
}

const storages: [string, () => HeraldStorage][] = [
  ['memory', () => memoryStorage()],
  ['indexeddb', () => indexedDbStorage({ indexedDB: new IDBFactory(), name: 'herald-reload' })],
];

describe.each(storages)('reload over the same storage (%s)', (_name, makeStorage) => {
  it('shows the cached timeline at once and sends a pending message exactly once', async () => {
    server = await FakeServer.start();
    for (let i = 1; i <= 3; i++) server.append('c1', `m${i}`);
    const storage = makeStorage();
    const pageStorage = severable(storage);
    const page = makeClient(server, { storage: pageStorage });
    const room = page.open('c1', { sinceSeq: 0 });
    page.connect();
    await server.nextConnection();
    await waitFor(() => room.lastSeq === 3, 'replay');
    // The send reaches the server and is committed, but the page closes before the ack.
    server.onFrame = (conn, frame) => {
      if (frame.type !== 'send') return false;
      server.commitSend(conn, frame, false);
      return true;
    };
    const out = page.send('c1', 'hello');
    await waitFor(() => server.countClientId('c1', out.client_id) === 1, 'committed');
    await closePage(page, pageStorage);
    server.onFrame = null;

    const reloaded = makeClient(server, { storage });
    await reloaded.restored;
    expect(reloaded.pending().map((m) => [m.client_id, m.body, m.status])).toEqual([
      [out.client_id, 'hello', 'queued'],
    ]);
    const again = reloaded.open('c1'); // no sinceSeq: the stored position
    expect(again.lastSeq).toBe(3);
    expect(again.messages().map((m) => m.body)).toEqual(['m1', 'm2', 'm3']); // before any network
    const restored = reloaded.pending()[0];
    reloaded.connect();
    const conn = await server.nextConnection();
    expect((await conn.waitForFrame('subscribe')).since_seq).toBe(3);
    const sent = await restored.done;
    expect(sent.seq).toBe(4);
    await waitFor(() => again.lastSeq === 4, 'replayed the committed send');
    expect(server.countClientId('c1', out.client_id)).toBe(1);
    expect(again.messages().map((m) => m.body)).toEqual(['m1', 'm2', 'm3', 'hello']);
    expect(reloaded.pending()).toEqual([]);
    await reloaded.persisted();
    expect((await storage.load()).pending).toEqual([]);
    expect((await storage.load()).conversations[0].last_seq).toBe(4);
  });

  it('sends queued offline go after a reload, in order, before ones made since, each once', async () => {
    server = await FakeServer.start();
    const storage = makeStorage();
    const pageStorage = severable(storage);
    const page = makeClient(server, { storage: pageStorage });
    const offline = ['one', 'two', 'three'].map((b) => page.send('c1', b));
    await closePage(page, pageStorage); // never connected

    const reloaded = makeClient(server, { storage });
    const fresh = reloaded.send('c1', 'four'); // before the restore has finished
    await reloaded.restored;
    expect(reloaded.pending().map((m) => m.body)).toEqual(['one', 'two', 'three', 'four']);
    reloaded.connect();
    const conn = await server.nextConnection();
    await waitFor(() => conn.framesOf('send').length === 4, 'four sends');
    expect(conn.framesOf('send').map((f) => f.client_id)).toEqual([
      ...offline.map((o) => o.client_id),
      fresh.client_id,
    ]);
    await Promise.all(reloaded.pending().map((m) => m.done));
    expect(
      server.log('c1').map((s) => (s.event.type === 'message.created' ? s.event.message.body : '')),
    ).toEqual(['one', 'two', 'three', 'four']);
  });
});

describe('disconnect()', () => {
  it('rejects done with DISCONNECTED but keeps the send stored; the next connect() sends it once', async () => {
    server = await FakeServer.start();
    const storage = memoryStorage();
    const c = makeClient(server, { storage });
    const confirmed = c.send('c1', 'confirmed first');
    c.connect();
    await confirmed.done;
    server.opts.autoSend = false; // the next one is written, never answered
    const m = c.send('c1', 'unanswered');
    await server.last.waitForFrame('send');
    c.disconnect();
    await expect(m.done).rejects.toMatchObject({ code: 'DISCONNECTED' });
    expect(c.pending()).toEqual([]);
    await c.persisted();
    expect((await storage.load()).pending.map((p) => p.client_id)).toEqual([m.client_id]);

    server.opts.autoSend = true;
    c.connect();
    await c.restored;
    const [again] = c.pending();
    expect([again.client_id, again.body]).toEqual([m.client_id, 'unanswered']);
    await again.done;
    expect(server.countClientId('c1', m.client_id)).toBe(1);
    expect(server.countClientId('c1', confirmed.client_id)).toBe(1);
    const frames = server.connections.flatMap((conn) => conn.framesOf('send').map((f) => f.client_id));
    expect(frames.filter((id) => id === confirmed.client_id)).toHaveLength(1); // not sent again
    await c.persisted();
    expect((await storage.load()).pending).toEqual([]);
  });
});

describe('the timeline cache', () => {
  it('keeps the newest cacheMessages per conversation and the position they end at', async () => {
    server = await FakeServer.start();
    for (let i = 1; i <= 12; i++) server.append('c1', `m${i}`);
    const storage = memoryStorage();
    const page = makeClient(server, { storage, cacheMessages: 5 });
    const room = page.open('c1', { sinceSeq: 0 });
    page.connect();
    await waitFor(() => room.lastSeq === 12, 'replay');
    await page.persisted();
    const [rec] = (await storage.load()).conversations;
    expect(rec.last_seq).toBe(12);
    expect(rec.messages.map((m) => m.seq)).toEqual([8, 9, 10, 11, 12]);
    page.disconnect();

    const reloaded = makeClient(server, { storage, cacheMessages: 5 });
    await reloaded.restored;
    const again = reloaded.open('c1');
    expect(again.messages().map((m) => m.seq)).toEqual([8, 9, 10, 11, 12]);
    reloaded.connect();
    await again.loadOlder(3); // older history is still a page away
    expect(again.messages().map((m) => m.seq)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('a sinceSeq from the host wins over the stored position; cached messages past it are not shown', async () => {
    const storage = memoryStorage();
    server = await FakeServer.start();
    for (let i = 1; i <= 4; i++) server.append('c1', `m${i}`);
    const page = makeClient(server, { storage });
    const room = page.open('c1', { sinceSeq: 0 });
    page.connect();
    await waitFor(() => room.lastSeq === 4, 'replay');
    page.disconnect();
    await page.persisted();
    const reloaded = makeClient(server, { storage });
    await reloaded.restored;
    const again = reloaded.open('c1', { sinceSeq: 2 });
    expect(again.lastSeq).toBe(2);
    expect(again.messages().map((m) => m.seq)).toEqual([1, 2]);
    reloaded.connect();
    await waitFor(() => again.lastSeq === 4, 'resumed from 2');
    expect(again.messages().map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('opened before the restore finished: seeded when it lands, with a `restored` event', async () => {
    const storage = memoryStorage();
    await storage.write([
      {
        op: 'putConversation',
        conversation: { conversation: 'c1', last_seq: 1, messages: [] },
      },
    ]);
    server = await FakeServer.start();
    const c = makeClient(server, { storage });
    const room = c.open('c1');
    expect(room.lastSeq).toBeNull();
    const seen: number[] = [];
    room.on('restored', ({ last_seq }) => seen.push(last_seq));
    await c.restored;
    expect(seen).toEqual([1]);
    expect(room.lastSeq).toBe(1);
  });

  it('a conversation the server ends (NOT_A_MEMBER) is forgotten; one the host closes is kept', async () => {
    server = await FakeServer.start();
    server.append('a', 'x');
    server.append('b', 'y');
    const storage = memoryStorage();
    const c = makeClient(server, { storage });
    const a = c.open('a', { sinceSeq: 0 });
    const b = c.open('b', { sinceSeq: 0 });
    c.connect();
    await waitFor(() => a.lastSeq === 1 && b.lastSeq === 1, 'replays');
    await c.persisted();
    server.last.send({ type: 'unsubscribed', conversation: 'a', code: 'NOT_A_MEMBER' });
    await waitFor(() => a.status === 'closed', 'a ended');
    b.close();
    await c.persisted();
    expect((await storage.load()).conversations.map((r) => [r.conversation, r.last_seq])).toEqual([['b', 1]]);
    // Reopened in the same client: from the kept position.
    expect(c.open('b').lastSeq).toBe(1);
  });
});

describe('reads', () => {
  it('a read the server had not reflected is sent again after a reload, until it is', async () => {
    server = await FakeServer.start({ autoSubscribe: true });
    server.append('c1', 'x');
    server.append('c1', 'y');
    const storage = memoryStorage();
    const pageStorage = severable(storage);
    const page = makeClient(server, { storage: pageStorage });
    page.read('c1', 2); // offline: never written
    await closePage(page, pageStorage);
    expect((await storage.load()).reads).toEqual([{ conversation: 'c1', seq: 2 }]);

    const reloaded = makeClient(server, { storage });
    reloaded.connect();
    const conn = await server.nextConnection();
    expect(await conn.waitForFrame('read')).toMatchObject({ conversation: 'c1', seq: 2 });
    // The server reflects it (an inbox entry with last_read_seq 2): storage forgets the read.
    conn.send({ type: 'inbox', entry: server.setInbox('c1', { last_seq: 2, last_read_seq: 2 }) });
    await waitFor(() => reloaded.inbox.get('c1')?.last_read_seq === 2, 'reflected');
    await reloaded.persisted();
    expect((await storage.load()).reads).toEqual([]);
  });
});

describe('ownership and failures', () => {
  it("another user's records are cleared at the first welcome; their sends are never sent", async () => {
    server = await FakeServer.start({ userId: 'bob' });
    const storage = memoryStorage();
    await storage.write([
      { op: 'putIdentity', identity: { url: 'elsewhere', tenant_id: 't1', user_id: 'alice' } },
      {
        op: 'putSend',
        send: { client_id: 'alice-1', conversation: 'c1', body: "alice's", options: {}, order: 1 },
      },
      { op: 'putRead', read: { conversation: 'c1', seq: 9 } },
    ]);
    const c = makeClient(server, { storage, url: server.url });
    const errors: string[] = [];
    c.on('error', (e: HeraldClientError) => errors.push(e.code));
    await c.restored;
    const [alices] = c.pending();
    const mine = c.send('c1', "bob's");
    c.connect();
    await expect(alices.done).rejects.toMatchObject({ code: 'STORAGE_OTHER_USER' });
    await mine.done;
    const conn = server.last;
    expect(conn.framesOf('send').map((f) => f.client_id)).toEqual([mine.client_id]);
    expect(conn.framesOf('read')).toEqual([]);
    expect(errors).toContain('STORAGE_OTHER_USER');
    await c.persisted();
    const after = await storage.load();
    expect(after.identity).toEqual({ url: server.url, tenant_id: 't1', user_id: 'bob' });
    expect(after.pending).toEqual([]);
    expect(after.reads).toEqual([]);
  });

  it('a storage that fails is reported as STORAGE_FAILED and never stops messaging', async () => {
    server = await FakeServer.start();
    server.append('c1', 'x');
    const broken: HeraldStorage = {
      load: () => Promise.reject(new Error('quota exceeded')),
      write: () => Promise.reject(new Error('quota exceeded')),
      clear: () => Promise.reject(new Error('quota exceeded')),
    };
    const c = makeClient(server, { storage: broken });
    const errors: HeraldClientError[] = [];
    c.on('error', (e) => errors.push(e));
    const room = c.open('c1', { sinceSeq: 0 });
    c.connect();
    await c.ready();
    await c.send('c1', 'still works').done;
    await waitFor(() => room.lastSeq === 2, 'live');
    await c.persisted();
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['STORAGE_FAILED']));
    expect(errors[0].message).toMatch(/Could not read the client's offline storage: quota exceeded/);
    await expect(c.clearStorage()).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
  });

  it('storage: false keeps nothing; clearStorage() forgets what was kept', async () => {
    server = await FakeServer.start();
    const none = makeClient(server, { storage: false });
    none.send('c1', 'x');
    await none.persisted();
    none.disconnect();

    const storage = memoryStorage();
    const c = makeClient(server, { storage });
    c.send('c1', 'y');
    await c.persisted();
    expect((await storage.load()).pending).toHaveLength(1);
    await c.clearStorage();
    expect((await storage.load()).pending).toEqual([]);
  });
});

// Ordering and recovery (DESIGN §5): replay on subscribe, incomplete replays
// paged over HTTP, gaps fetched before applying, duplicates and reordering.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AppliedEvent,
  type FetchLike,
  type HeraldClient,
  type Message,
  Subscription,
} from '../../src/client/index.ts';
import { deferred, errorReply, eventFrame, FakeServer, waitFor } from './fake-server.ts';
import { barrierNotice, disconnectAll, ManualTimers, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  await server.close();
});

function applied(sub: Subscription): AppliedEvent[] {
  const out: AppliedEvent[] = [];
  sub.on('event', (e) => out.push(e));
  return out;
}

const seqs = (a: AppliedEvent[]) => a.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function connected(client: HeraldClient) {
  client.connect();
  await client.ready();
}

describe('subscribe and replay', () => {
  beforeEach(async () => {
    server = await FakeServer.start();
  });

  it('replays (since_seq, head] over the socket, in order, then goes live', async () => {
    for (let i = 1; i <= 3; i++) server.append('c1', `m${i}`);
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 1 });
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.lastSeq === 3, 'replay');
    server.append('c1', 'live');
    await waitFor(() => sub.lastSeq === 4, 'live');
    expect(seqs(got)).toEqual([2, 3, 4]);
    expect(got.every((e) => e.source === 'socket')).toBe(true);
  });

  it('without sinceSeq starts at the head and follows live events', async () => {
    server.append('c1', 'old');
    const client = makeClient(server);
    const sub = client.open('c1');
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    expect(sub.lastSeq).toBe(1);
    server.append('c1', 'new');
    await waitFor(() => sub.lastSeq === 2, 'live');
    expect(seqs(got)).toEqual([2]);
  });

  it('opening while connected subscribes at once', async () => {
    server.append('c1', 'a');
    const client = makeClient(server);
    await connected(client);
    const sub = client.open('c1', { sinceSeq: 0 });
    await waitFor(() => sub.lastSeq === 1, 'replay');
    expect(client.open('c1')).toBe(sub);
  });
});

describe('incomplete replay (subscribed complete:false)', () => {
  for (const subscribedFirst of [false, true]) {
    it(`pages the rest over HTTP (subscribed ${subscribedFirst ? 'before' : 'after'} the replay)`, async () => {
      server = await FakeServer.start({ replayLimit: 5, subscribedFirst });
      for (let i = 1; i <= 12; i++) server.append('c1', `m${i}`);
      const client = makeClient(server, { pageSize: 4 });
      const sub = client.open('c1', { sinceSeq: 0 });
      const got = applied(sub);
      await connected(client);
      await waitFor(() => sub.lastSeq === 12, 'caught up');
      expect(seqs(got)).toEqual(range(1, 12));
      const fetched = got.filter((e) => e.source === 'http').map((e) => e.seq);
      expect(fetched).toContain(12);
      const fetches = server.requests.filter((r) => r.path === '/v1/conversations/c1/events');
      // Only what the replay did not carry is fetched: paging starts after the 5 replayed events.
      expect(fetches[0].query.get('after_seq')).toBe('5');
      expect(server.requests.every((r) => r.token === 'tok-1')).toBe(true);
    });
  }

  it('fetches a replay tail that never came when subscribed said complete', async () => {
    server = await FakeServer.start({ subscribedFirst: true });
    for (let i = 1; i <= 4; i++) server.append('c1', `m${i}`);
    // A gateway that announces a replay of 4 but loses the last two frames.
    server.onFrame = (conn, f) => {
      if (f.type !== 'subscribe') return false;
      conn.subscriptions.add('c1');
      conn.send({ type: 'subscribed', conversation: 'c1', head_seq: 4, replayed: 4, complete: true });
      for (const s of server.log('c1').slice(0, 2)) conn.send(eventFrame('c1', s));
      return true;
    };
    const client = makeClient(server, { replaySettleMs: 20 });
    const sub = client.open('c1', { sinceSeq: 0 });
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.lastSeq === 4, 'tail fetched');
    expect(seqs(got)).toEqual([1, 2, 3, 4]);
    expect(got.slice(2).every((e) => e.source === 'http')).toBe(true);
  });
});

describe('failure paths', () => {
  beforeEach(async () => {
    server = await FakeServer.start();
  });

  it('a subscribe the server failed (error INTERNAL, ref) is sent again after a backoff', async () => {
    // Found by the simulation (seed 10): a store error on the gateway's subscribe left the SDK
    // waiting in `subscribing` until the next reconnect, with nothing of the conversation.
    for (let i = 1; i <= 2; i++) server.append('c1', `m${i}`);
    let failed = false;
    server.onFrame = (conn, f) => {
      if (f.type !== 'subscribe' || failed) return false;
      failed = true;
      conn.send({ type: 'error', code: 'INTERNAL', message: 'Internal error.', ref: 'c1' });
      return true;
    };
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    const got = applied(sub);
    await connected(client);
    await waitFor(() => got.length === 2, 'the replay of the second subscribe');
    expect(seqs(got)).toEqual([1, 2]);
    expect(sub.status).toBe('subscribed');
    expect(server.last.framesOf('subscribe')).toHaveLength(2);
  });

  it('drop mid-replay: resumes from the last applied seq, nothing lost or doubled', async () => {
    for (let i = 1; i <= 10; i++) server.append('c1', `m${i}`);
    let dropped = false;
    server.onFrame = (conn, f) => {
      if (f.type !== 'subscribe' || dropped) return false;
      dropped = true;
      conn.subscriptions.add('c1');
      for (const s of server.log('c1').slice(0, 3)) conn.send(eventFrame('c1', s));
      conn.terminate();
      return true;
    };
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    const got = applied(sub);
    client.connect();
    await server.nextConnection();
    const second = await server.nextConnection();
    expect((await second.waitForFrame('subscribe')).since_seq).toBe(3);
    await waitFor(() => sub.lastSeq === 10, 'resumed');
    expect(seqs(got)).toEqual(range(1, 10));
    expect(sub.messages()).toHaveLength(10);
  });

  it('duplicated frames are applied once', async () => {
    for (let i = 1; i <= 3; i++) server.append('c1', `m${i}`, { publish: false });
    const client = makeClient(server);
    const sub = client.open('c1');
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    // Subscribed at head 3: now replay-style duplicates and a fresh event, each twice.
    const s4 = server.append('c1', 'm4', { publish: false });
    const [s1] = server.log('c1');
    for (const s of [s1, s4, s4, s1]) server.last.send(eventFrame('c1', s));
    await waitFor(() => sub.lastSeq === 4, 'applied');
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(seqs(got)).toEqual([4]);
    expect(sub.messages().map((m) => m.body)).toEqual(['m4']);
  });

  it('a gap is fetched over HTTP BEFORE later frames are applied', async () => {
    server.append('c1', 'm1');
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.lastSeq === 1, 'replay');

    const hold = deferred();
    server.onHttp = async (req) => {
      if (req.path.endsWith('/events')) await hold.promise;
      return undefined;
    };
    server.append('c1', 'm2', { publish: false });
    server.append('c1', 'm3', { publish: false });
    server.append('c1', 'm4'); // live: seq 4 with last_seq 1 → hole 2..3
    await waitFor(() => server.requests.some((r) => r.path.endsWith('/events')), 'gap fetch started');
    expect(server.requests.at(-1)?.query.get('after_seq')).toBe('1');
    server.append('c1', 'm5'); // arrives while the hole is being fetched: buffered
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(seqs(got)).toEqual([1]);
    expect(sub.catchingUp).toBe(true);

    hold.resolve();
    await waitFor(() => sub.lastSeq === 5, 'hole filled');
    expect(seqs(got)).toEqual([1, 2, 3, 4, 5]);
    expect(got[1].source).toBe('http');
    expect(got[2].source).toBe('http');
    expect(sub.messages().map((m) => m.body)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('out-of-order frames are applied in seq order, once', async () => {
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    const s = [1, 2, 3].map((i) => server.append('c1', `m${i}`, { publish: false }));
    for (const x of [s[0], s[2], s[1]]) server.last.send(eventFrame('c1', x));
    await waitFor(() => sub.lastSeq === 3, 'applied');
    expect(seqs(got)).toEqual([1, 2, 3]);
  });

  it('a failing catch-up fetch is reported and retried; nothing is skipped meanwhile', async () => {
    const client = makeClient(server);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const sub = client.open('c1', { sinceSeq: 0 });
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    let failures = 2;
    server.onHttp = (req) =>
      req.path.endsWith('/events') && failures-- > 0 ? errorReply(503, 'NOT_READY') : undefined;
    server.append('c1', 'm1', { publish: false });
    server.append('c1', 'm2');
    await waitFor(() => sub.lastSeq === 2, 'eventually filled');
    expect(seqs(got)).toEqual([1, 2]);
    expect(errors).toEqual(['NOT_READY', 'NOT_READY']);
  });

  it('edits and deletes update the timeline', async () => {
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    const s1 = server.append('c1', 'first');
    if (s1.event.type !== 'message.created') throw new Error('unreachable');
    const msg = s1.event.message;
    const edit = { seq: 2, event: { type: 'message.edited' as const, message: { ...msg, body: 'edited' } } };
    const del = {
      seq: 3,
      event: { type: 'message.deleted' as const, message_id: msg.id, deleted_at: 'now' },
    };
    server.log('c1').push(edit);
    server.publish('c1', edit);
    await waitFor(() => sub.lastSeq === 2, 'edit');
    expect(sub.messages()[0].body).toBe('edited');
    server.log('c1').push(del);
    server.publish('c1', del);
    await waitFor(() => sub.lastSeq === 3, 'delete');
    expect(sub.messages()[0]).toMatchObject({ body: '', deleted_at: 'now' });
  });

  it('loadOlder pages history before the oldest known message', async () => {
    for (let i = 1; i <= 6; i++) server.append('c1', `m${i}`);
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 4 });
    await connected(client);
    await waitFor(() => sub.lastSeq === 6, 'replay');
    const page = await sub.loadOlder(2);
    expect(page.messages.map((m) => m.seq)).toEqual([3, 4]);
    expect(sub.messages().map((m) => m.seq)).toEqual([3, 4, 5, 6]);
  });

  it('a server-side unsubscribe (NOT_A_MEMBER) closes the subscription; it is not resumed', async () => {
    const client = makeClient(server);
    const errors: { code: string; ref?: string }[] = [];
    client.on('error', (e) => errors.push({ code: e.code, ref: e.ref }));
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    server.last.send({ type: 'unsubscribed', conversation: 'c1', code: 'NOT_A_MEMBER' });
    await waitFor(() => sub.status === 'closed', 'closed');
    expect(errors).toEqual([{ code: 'NOT_A_MEMBER', ref: 'c1' }]);
    server.last.close(4001);
    const next = await server.nextConnection().then(() => server.nextConnection());
    await waitFor(() => client.state === 'connected', 'reconnected');
    expect(next.framesOf('subscribe')).toEqual([]);
  });

  it('close() unsubscribes', async () => {
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    sub.close();
    await server.last.waitForFrame('unsubscribe');
    expect(sub.status).toBe('closed');
    expect(client.subscription('c1')).toBeUndefined();
  });

  it('error {ref: conversation, NOT_A_MEMBER} ends that subscription; other codes do not', async () => {
    const client = makeClient(server);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const a = client.open('a', { sinceSeq: 0 });
    const b = client.open('b', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => a.status === 'subscribed' && b.status === 'subscribed', 'subscribed');
    server.last.send({ type: 'error', code: 'INVALID_SEQ', message: 'x', ref: 'a' });
    server.last.send({ type: 'error', code: 'NOT_A_MEMBER', message: 'x', ref: 'b' });
    await waitFor(() => b.status === 'closed', 'b closed');
    expect(a.status).toBe('subscribed');
    expect(errors).toEqual(['INVALID_SEQ', 'NOT_A_MEMBER']);
  });

  it('a catch-up answered NOT_A_MEMBER ends the subscription instead of retrying forever', async () => {
    const client = makeClient(server);
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    server.onHttp = (req) => (req.path.endsWith('/events') ? errorReply(403, 'NOT_A_MEMBER') : undefined);
    server.append('c1', 'm1', { publish: false });
    server.append('c1', 'm2'); // gap → fetch → 403
    await waitFor(() => sub.status === 'closed', 'closed');
    expect(errors).toEqual(['NOT_A_MEMBER']);
    expect(sub.lastSeq).toBe(0);
    await server.last.waitForFrame('unsubscribe');
  });
});

describe('disconnect stops catch-up', () => {
  beforeEach(async () => {
    server = await FakeServer.start();
  });

  /** A fetch that records each call synchronously (with its abort signal). */
  function countingFetch() {
    const calls: { url: string; signal: AbortSignal | null | undefined }[] = [];
    const fetch: FetchLike = (url, init) => {
      calls.push({ url, signal: init.signal });
      return globalThis.fetch(url, init);
    };
    return { fetch, events: () => calls.filter((c) => c.url.includes('/events')) };
  }

  it('a failing catch-up is not retried after disconnect(): no timer left, no more requests', async () => {
    const timers = new ManualTimers();
    const f = countingFetch();
    const client = makeClient(server, { timers, fetch: f.fetch });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    server.onHttp = (req) => (req.path.endsWith('/events') ? errorReply(503, 'NOT_READY') : undefined);
    server.append('c1', 'm1', { publish: false });
    server.append('c1', 'm2'); // gap → fetch → 503 → retry on a timer
    await waitFor(() => errors.length === 1, 'first failure');
    expect(sub.catchingUp).toBe(true);
    expect(f.events()).toHaveLength(1);

    client.disconnect();
    expect(sub.catchingUp).toBe(false);
    expect(timers.pending()).toEqual([]);
    timers.advance(10 * 60_000);
    expect(f.events()).toHaveLength(1); // the retry would have called fetch synchronously
    expect(sub.lastSeq).toBe(0);
  });

  it('a fill in flight is aborted by disconnect() and its answer ignored; connect() resumes cleanly', async () => {
    server.append('c1', 'm1');
    const f = countingFetch();
    const client = makeClient(server, { fetch: f.fetch });
    const sub = client.open('c1', { sinceSeq: 0 });
    const got = applied(sub);
    await connected(client);
    await waitFor(() => sub.lastSeq === 1, 'replay');
    const hold = deferred();
    server.onHttp = async (req) => {
      if (req.path.endsWith('/events')) await hold.promise;
      return undefined;
    };
    server.append('c1', 'm2', { publish: false });
    server.append('c1', 'm3'); // gap → fetch, held
    await waitFor(() => f.events().length === 1, 'fill started');
    client.disconnect();
    expect(f.events()[0].signal?.aborted).toBe(true);
    expect(sub.catchingUp).toBe(false);
    hold.resolve();
    server.onHttp = null;
    await connected(client);
    await waitFor(() => sub.lastSeq === 3, 'resumed');
    expect(seqs(got)).toEqual([1, 2, 3]);
    expect(f.events()).toHaveLength(1);
    expect(server.last.framesOf('subscribe')).toEqual([
      { type: 'subscribe', conversation: 'c1', since_seq: 1 },
    ]);
  });

  it('an awaited replay that never comes leaves no settle timer behind after disconnect()', async () => {
    const timers = new ManualTimers();
    for (let i = 1; i <= 3; i++) server.append('c1', `m${i}`);
    server.onFrame = (conn, frame) => {
      if (frame.type !== 'subscribe') return false;
      // Announce a replay of 3, send none of it.
      conn.subscriptions.add('c1');
      conn.send({ type: 'subscribed', conversation: 'c1', head_seq: 3, replayed: 3, complete: true });
      return true;
    };
    const f = countingFetch();
    const client = makeClient(server, { timers, fetch: f.fetch });
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    expect(timers.pending()).toContain(2000);
    client.disconnect();
    expect(timers.pending()).toEqual([]);
    timers.advance(60_000);
    expect(f.events()).toEqual([]);
  });
});

describe('timeline bound', () => {
  beforeEach(async () => {
    server = await FakeServer.start();
  });

  it('keeps the newest maxMessages in seq order across live events, edits and loadOlder', async () => {
    for (let i = 1; i <= 4; i++) server.append('c1', `m${i}`);
    const client = makeClient(server, { maxMessages: 3 });
    const sub = client.open('c1', { sinceSeq: 2 });
    await connected(client);
    await waitFor(() => sub.lastSeq === 4, 'replay');
    expect(sub.messages().map((m) => m.body)).toEqual(['m3', 'm4']);
    await sub.loadOlder(2); // m1, m2: over the bound until the next event
    expect(sub.messages().map((m) => m.body)).toEqual(['m1', 'm2', 'm3', 'm4']);
    server.append('c1', 'm5');
    await waitFor(() => sub.lastSeq === 5, 'm5');
    expect(sub.messages().map((m) => m.body)).toEqual(['m3', 'm4', 'm5']);
    // An edit keeps its place; an edit of a message we no longer hold is placed by seq and evicted first.
    const [s3] = server.log('c1').filter((x) => x.seq === 3);
    const [s1] = server.log('c1').filter((x) => x.seq === 1);
    if (s3.event.type !== 'message.created' || s1.event.type !== 'message.created')
      throw new Error('unreachable');
    for (const m of [s3.event.message, s1.event.message]) {
      const edit = {
        seq: server.head('c1') + 1,
        event: { type: 'message.edited' as const, message: { ...m, body: `${m.body}!` } },
      };
      server.log('c1').push(edit);
      server.publish('c1', edit);
    }
    server.append('c1', 'm8');
    await waitFor(() => sub.lastSeq === 8, 'edits');
    expect(sub.messages().map((m) => m.body)).toEqual(['m4', 'm5', 'm8']);
    server.append('c1', 'm9');
    await waitFor(() => sub.lastSeq === 9, 'm9');
    expect(sub.messages().map((m) => m.seq)).toEqual([5, 8, 9]);
  });

  it('evicting at the bound costs O(1) per event, not a sort of the timeline', () => {
    // Messages whose `seq` counts its reads: a sort per event would read it ~n log n times.
    let reads = 0;
    const message = (seq: number): Message => {
      const m = {
        id: `m${seq}`,
        conversation_id: 'c1',
        body: `m${seq}`,
        sender: { type: 'user', user_id: 'u' },
      } as unknown as Message;
      Object.defineProperty(m, 'seq', {
        get: () => {
          reads++;
          return seq;
        },
        enumerable: true,
      });
      return m;
    };
    const timers = new ManualTimers();
    const sub = new Subscription('c1', 0, {
      fetchEvents: () => Promise.reject(new Error('no catch-up expected')),
      fetchMessages: () => Promise.reject(new Error('no history expected')),
      applied: () => {},
      error: (e) => {
        throw e;
      },
      unsubscribe: () => {},
      retryDelay: () => 1000,
      timers,
      pageSize: 200,
      replaySettleMs: 2000,
      maxMessages: 500,
    });
    sub._onSubscribed(0, 0, true);
    const n = 5000;
    for (let seq = 1; seq <= n; seq++) sub._onEvent(seq, { type: 'message.created', message: message(seq) });
    expect(sub.lastSeq).toBe(n);
    expect(reads).toBeLessThan(4 * n); // the old sort-per-event: > 4,000 reads per event
    const kept = sub.messages();
    expect(kept).toHaveLength(500);
    expect(kept[0].id).toBe(`m${n - 499}`);
    expect(kept.at(-1)?.id).toBe(`m${n}`);
    expect(kept.every((m, i) => i === 0 || kept[i - 1].seq < m.seq)).toBe(true);
  });
});

// Optimistic send: client_id for life, ack vs event reconciliation, retries
// after a reconnect without duplicates, errors by catalog code.
import { afterEach, describe, expect, it } from 'vitest';
import type { HeraldClient, SentMessage } from '../../src/client/index.ts';
import { FakeServer, waitFor } from './fake-server.ts';
import { barrierNotice, disconnectAll, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  await server.close();
});

async function connected(client: HeraldClient) {
  client.connect();
  await client.ready();
}

describe('optimistic send', () => {
  it('is pending with a client_id at once, confirmed by the ack', async () => {
    server = await FakeServer.start();
    const client = makeClient(server);
    await connected(client);
    const m = client.send('c1', 'hello', { mentions: ['u2'] });
    expect(m.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(client.pending('c1')).toEqual([m]);
    const res = await m.done;
    expect(res).toMatchObject({ client_id: m.client_id, conversation: 'c1', seq: 1 });
    expect(m.status).toBe('confirmed');
    expect(client.pending()).toEqual([]);
    const frame = await server.last.waitForFrame('send');
    expect(frame).toMatchObject({
      conversation: 'c1',
      client_id: m.client_id,
      body: 'hello',
      mentions: ['u2'],
    });
  });

  it('the event carrying the same client_id confirms it when it beats the ack; the ack is then a no-op', async () => {
    server = await FakeServer.start({ ackFirst: false });
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    const sent: SentMessage[] = [];
    client.on('sent', (s) => sent.push(s));
    const m = client.send('c1', 'hi');
    const res = await m.done;
    expect(res.message?.body).toBe('hi');
    expect(res.message?.client_id).toBe(m.client_id);
    // Let the trailing ack arrive, then check nothing happened twice.
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(sent).toHaveLength(1);
    expect(sub.messages()).toHaveLength(1);
  });

  it('ack first then event: one confirmation, one message in the timeline', async () => {
    server = await FakeServer.start({ ackFirst: true });
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    const sent: SentMessage[] = [];
    client.on('sent', (s) => sent.push(s));
    const m = client.send('c1', 'hi');
    await m.done;
    await waitFor(() => sub.lastSeq === 1, 'event');
    expect(sent).toHaveLength(1);
    expect(sub.messages().map((x) => x.client_id)).toEqual([m.client_id]);
  });

  it('a send committed but unacked when the socket dies is retried with the SAME client_id — no duplicate', async () => {
    server = await FakeServer.start();
    let lose = true;
    server.onFrame = (conn, f) => {
      if (f.type !== 'send' || !lose) return false;
      lose = false;
      server.commitSend(conn, f, false); // committed; the ack and event die with the socket
      conn.terminate();
      return true;
    };
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    client.connect();
    const first = await server.nextConnection();
    await client.ready();
    const m = client.send('c1', 'exactly once');
    const firstSend = await first.waitForFrame('send');
    const second = await server.nextConnection();
    const retry = await second.waitForFrame('send');
    expect(retry.client_id).toBe(firstSend.client_id);
    const res = await m.done;
    expect(res.seq).toBe(1);
    await waitFor(() => sub.lastSeq === 1, 'replayed');
    expect(server.countClientId('c1', m.client_id)).toBe(1);
    expect(server.log('c1')).toHaveLength(1);
    expect(sub.messages()).toHaveLength(1);
  });

  it('sends made while offline are queued and go out in order after connecting', async () => {
    server = await FakeServer.start();
    const client = makeClient(server);
    const a = client.send('c1', 'a');
    const b = client.send('c1', 'b');
    expect(a.status).toBe('queued');
    await connected(client);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.seq, rb.seq]).toEqual([1, 2]);
    expect(server.last.framesOf('send').map((f) => f.body)).toEqual(['a', 'b']);
  });

  it('resubscribes before retrying sends on a new socket', async () => {
    server = await FakeServer.start({ autoSend: false });
    const client = makeClient(server);
    client.open('c1', { sinceSeq: 0 });
    client.connect();
    const first = await server.nextConnection();
    await client.ready();
    client.send('c1', 'x');
    await first.waitForFrame('send');
    first.close(4001);
    const second = await server.nextConnection();
    await second.waitForFrame('send');
    expect(second.frames.map((f) => f.type).filter((t) => t === 'subscribe' || t === 'send')).toEqual([
      'subscribe',
      'send',
    ]);
  });

  it('error {ref: client_id} rejects that send with the catalog code', async () => {
    server = await FakeServer.start();
    server.onFrame = (conn, f) => {
      if (f.type !== 'send') return false;
      conn.send({ type: 'error', code: 'NOT_A_MEMBER', message: 'no', ref: f.client_id });
      return true;
    };
    const client = makeClient(server);
    await connected(client);
    const other: string[] = [];
    client.on('error', (e) => other.push(e.code));
    const m = client.send('c1', 'nope');
    await expect(m.done).rejects.toMatchObject({
      name: 'HeraldClientError',
      code: 'NOT_A_MEMBER',
      ref: m.client_id,
    });
    expect(m.status).toBe('failed');
    expect(m.error?.code).toBe('NOT_A_MEMBER');
    expect(client.pending()).toEqual([]);
    expect(other).toEqual([]); // a send's error goes to its promise, not the global error event
  });

  it('a caller-supplied client_id is kept', async () => {
    server = await FakeServer.start();
    const client = makeClient(server);
    await connected(client);
    const m = client.send('c1', 'draft', { client_id: 'draft-42' });
    expect((await m.done).client_id).toBe('draft-42');
  });

  it("another user's message with the same client_id does not confirm our send; our own event does", async () => {
    server = await FakeServer.start({ autoSend: false });
    const client = makeClient(server);
    const sub = client.open('c1', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => sub.status === 'subscribed', 'subscribed');
    const m = client.send('c1', 'mine', { client_id: 'cid-1' });
    const frame = await server.last.waitForFrame('send');
    // client_id is unique per sender only: u-other happens to use the same one.
    server.append('c1', 'theirs', {
      extra: { client_id: 'cid-1', sender: { type: 'user', user_id: 'u-other' } },
    });
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(sub.lastSeq).toBe(1);
    expect(m.status).toBe('sent');
    expect(client.pending('c1')).toEqual([m]);
    // Our own message (published before the ack) confirms it.
    server.opts.ackFirst = false;
    server.commitSend(server.last, frame);
    const res = await m.done;
    expect(res).toMatchObject({ client_id: 'cid-1', conversation: 'c1', seq: 2 });
    expect(res.message?.body).toBe('mine');
  });

  it('an event or ack for another conversation does not confirm a send with the same client_id', async () => {
    server = await FakeServer.start({ autoSend: false });
    const client = makeClient(server);
    const c2 = client.open('c2', { sinceSeq: 0 });
    await connected(client);
    await waitFor(() => c2.status === 'subscribed', 'subscribed');
    const m = client.send('c1', 'mine', { client_id: 'cid-1' });
    await server.last.waitForFrame('send');
    server.append('c2', 'elsewhere', {
      extra: { client_id: 'cid-1', sender: { type: 'user', user_id: server.userId } },
    });
    server.last.send({ type: 'ack', client_id: 'cid-1', conversation: 'c2', seq: 1, message_id: 'x' });
    server.last.send({ type: 'notice', notice: barrierNotice() });
    await new Promise((r) => client.once('notice', r));
    expect(c2.lastSeq).toBe(1);
    expect(m.status).toBe('sent');
    server.last.send({ type: 'ack', client_id: 'cid-1', conversation: 'c1', seq: 1, message_id: 'm1' });
    expect(await m.done).toMatchObject({ conversation: 'c1', seq: 1, message_id: 'm1' });
  });
});

// The SDK's delivery acks: coalesced per conversation to the highest applied seq, at most
// one frame per conversation per interval, nothing the server already knows, and what could
// not be written while disconnected goes out after the next welcome. Then against a real
// node: applied events become `delivered` markers and the sender's SDK sees the receipt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DeliveryAcks } from '../../src/client/delivery-acks.ts';
import { HeraldClient, type Receipt } from '../../src/client/index.ts';
import type { ClientFrame } from '../../src/protocol/frames.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { waitFor } from '../support/redis.ts';
import { type Backend, backends } from '../support/stores.ts';
import { ManualTimers } from './helpers.ts';

describe('DeliveryAcks (manual clock)', () => {
  function setup(intervalMs = 500) {
    const timers = new ManualTimers();
    const written: ClientFrame[] = [];
    let open = true;
    const acks = new DeliveryAcks(timers, intervalMs, (f) => {
      if (!open) return false;
      written.push(f);
      return true;
    });
    return { timers, written, acks, setOpen: (v: boolean) => (open = v) };
  }

  it('sends only the highest seq per conversation, once per interval', () => {
    const { timers, written, acks } = setup();
    for (let seq = 1; seq <= 5; seq++) acks.applied('c1', seq);
    acks.applied('c2', 7);
    acks.applied('c1', 3); // older: nothing new
    expect(written).toEqual([]);
    timers.advance(499);
    expect(written).toEqual([]);
    timers.advance(1);
    expect(written).toEqual([
      { type: 'delivered', conversation: 'c1', seq: 5 },
      { type: 'delivered', conversation: 'c2', seq: 7 },
    ]);
    // Nothing more to say: no timer armed, and a seq already acked is not sent again.
    acks.applied('c1', 5);
    expect(timers.pending()).toEqual([]);
    acks.applied('c1', 6);
    acks.applied('c1', 8);
    timers.advance(500);
    expect(written.slice(2)).toEqual([{ type: 'delivered', conversation: 'c1', seq: 8 }]);
  });

  it('skips what the server already reported (own receipt), keeps pending while disconnected', () => {
    const { timers, written, acks, setOpen } = setup();
    acks.applied('c1', 4);
    acks.known('c1', 4); // e.g. a read on another device
    timers.advance(500);
    expect(written).toEqual([]);
    setOpen(false);
    acks.applied('c1', 9);
    timers.advance(500);
    expect(written).toEqual([]);
    acks.applied('c1', 10);
    acks.pause(); // the socket closed: no timer runs while disconnected
    expect(timers.pending()).toEqual([]);
    setOpen(true);
    acks.resume();
    timers.advance(500);
    expect(written).toEqual([{ type: 'delivered', conversation: 'c1', seq: 10 }]);
  });

  it('0 disables acks; forget and dispose drop what waits', () => {
    const off = setup(0);
    off.acks.applied('c1', 1);
    off.timers.advance(10_000);
    expect(off.written).toEqual([]);
    const { timers, written, acks } = setup();
    acks.applied('c1', 1);
    acks.applied('c2', 1);
    acks.forget('c1');
    timers.advance(500);
    expect(written).toEqual([{ type: 'delivered', conversation: 'c2', seq: 1 }]);
    acks.applied('c2', 2);
    acks.dispose();
    timers.advance(500);
    expect(written).toHaveLength(1);
  });
});

describe.each(backends())('SDK delivery receipts against a real node (%s)', (backend: Backend) => {
  let t: TestHerald;
  const clients: HeraldClient[] = [];
  beforeAll(async () => {
    t = await startTestHerald({ backend, listen: true, env: { HERALD_SEND_RATE_MAX: '10000' } });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await t?.close();
  });

  /** A client whose socket records every frame it writes. */
  function client(tenant: string, user: string, token: string, sent: ClientFrame[]): HeraldClient {
    class Recording extends WebSocket {
      override send(data: unknown, ...rest: never[]): void {
        sent.push(JSON.parse(String(data)));
        super.send(data as string, ...rest);
      }
    }
    const c = new HeraldClient({
      url: t.url as string,
      token,
      getToken: async () => (await t.mintUser(tenant, user)).access_token,
      WebSocket: Recording as unknown as typeof WebSocket,
      deliveryAckMs: 50,
    });
    clients.push(c);
    c.connect();
    return c;
  }

  it('acknowledges applied events; the sender sees delivered before read', async () => {
    const { tenant_id } = await t.createTenant();
    const [a, b] = await Promise.all(['alice', 'bob'].map((u) => t.mintUser(tenant_id, u)));
    const aliceSent: ClientFrame[] = [];
    const bobSent: ClientFrame[] = [];
    const alice = client(tenant_id, 'alice', a.access_token, aliceSent);
    const bob = client(tenant_id, 'bob', b.access_token, bobSent);
    await Promise.all([alice.ready(), bob.ready()]);
    const { conversation } = await alice.http.direct('bob');
    const receipts: Receipt[] = [];
    alice.on('receipt', (r) => receipts.push(r));
    const room = alice.open(conversation.id, { sinceSeq: 0 });
    bob.open(conversation.id, { sinceSeq: 0 });
    await waitFor(() => room.status === 'subscribed', 10_000, 'alice subscribed');
    const sent = await Promise.all(
      ['one', 'two', 'three'].map((body) => alice.send(conversation.id, body).done),
    );
    const head = Math.max(...sent.map((m) => m.seq));
    await waitFor(
      () => receipts.some((r) => r.user_id === 'bob' && r.delivered_seq === head),
      10_000,
      "bob's delivered receipt",
    );
    const delivered = receipts.find((r) => r.user_id === 'bob' && r.delivered_seq === head);
    expect(delivered?.seq).toBeLessThan(head); // delivered, not read
    const acks = bobSent.filter((f) => f.type === 'delivered');
    const seqs = acks.map((f) => (f.type === 'delivered' ? f.seq : 0));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length); // each ack says something new
    expect(seqs.at(-1)).toBe(head);
    const { rows } = await t.db.query<{ d: string }>(
      'SELECT last_delivered_seq AS d FROM inbox_entries WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3',
      [tenant_id, 'bob', conversation.id],
    );
    expect(Number(rows[0].d)).toBe(head);
    bob.read(conversation.id, head);
    await waitFor(() => receipts.some((r) => r.user_id === 'bob' && r.seq === head), 10_000, 'read receipt');
    expect(receipts.find((r) => r.user_id === 'bob' && r.seq === head)?.delivered_seq).toBe(head);
  });
});

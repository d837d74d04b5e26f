// The outgoing queue of one connection (src/gateway/outbound.ts), without sockets: a fake
// sink whose buffered bytes the test controls stands in for the transport's Writer.
import { describe, expect, it } from 'vitest';
import type { MetricEvent } from '../../src/gateway/metrics.ts';
import { Outbound } from '../../src/gateway/outbound.ts';
import type { Sink } from '../../src/gateway/ports.ts';
import { TopicFrame } from '../../src/gateway/topic-hub.ts';
import { CLOSE, type PresenceEntry } from '../../src/protocol/index.ts';

const SOFT = 1_000;
const HARD = 4_000;

function setup(closeGraceMs = 1_000) {
  const written: { text: string; shared: TopicFrame | null; cursor: unknown }[] = [];
  const urgent: string[] = [];
  const ends: { how: 'close' | 'cut'; code: number }[] = [];
  const metrics: MetricEvent[] = [];
  let degraded = 0;
  let closing = 0;
  const sink: Sink & { queued: number } = {
    transport: 'ws',
    queued: 0,
    write(text, shared, cursor) {
      written.push({ text, shared, cursor });
      this.queued += Buffer.byteLength(text);
    },
    urgent: (text) => urgent.push(text),
    bufferedAmount() {
      return this.queued;
    },
    close: (code) => ends.push({ how: 'close', code }),
    cut(code) {
      ends.push({ how: 'cut', code });
      const dropped = this.queued;
      this.queued = 0;
      return dropped;
    },
  };
  const out = new Outbound(
    sink,
    { softMarkBytes: SOFT, hardMarkBytes: HARD, closeGraceMs },
    {
      recordMetric: (e) => metrics.push(e),
      onDegraded: () => degraded++,
      onClosing: () => closing++,
    },
  );
  const types = () => written.map((w) => (JSON.parse(w.text) as { type: string }).type);
  return {
    out,
    sink,
    written,
    urgent,
    ends,
    metrics,
    types,
    get degraded() {
      return degraded;
    },
    get closing() {
      return closing;
    },
  };
}

const event = (seq: number) =>
  new TopicFrame(
    JSON.stringify({ type: 'event', conversation: 'c1', seq, event: { type: 'message.created' } }),
    'event',
    'c1',
    seq,
    null,
    null,
    null,
    'message',
  );
const typing = (user: string) =>
  new TopicFrame(
    JSON.stringify({ type: 'typing', conversation: 'c1', user_id: user, ttl_ms: 3000 }),
    'typing',
    'c1',
    null,
    user,
    null,
    null,
    'typing',
  );
const receipt = (user: string, seq: number) =>
  new TopicFrame(
    JSON.stringify({ type: 'receipt', conversation: 'c1', user_id: user, seq }),
    'receipt',
    'c1',
    seq,
    user,
    null,
    null,
    'receipt',
  );
const entry = (user: string, status: PresenceEntry['status']): PresenceEntry => ({
  user_id: user,
  device_id: 'd1',
  status,
  resource: null,
  last_seen_ms: 1,
});
const presence = (entries: PresenceEntry[]) =>
  new TopicFrame(
    JSON.stringify({ type: 'presence', conversation: 'c1', entries }),
    'presence',
    'c1',
    null,
    null,
    null,
    entries,
    'presence',
  );
const hint = (conversation: string, seq: number) =>
  new TopicFrame(
    JSON.stringify({ type: 'inbox_hint', conversation, last_seq: seq }),
    'inbox_hint',
    conversation,
    seq,
    null,
    null,
    null,
    'receipt',
  );
/** A message frame of about `bytes` bytes, to fill the queue. */
const filler = (bytes: number) =>
  new TopicFrame(
    JSON.stringify({ type: 'event', conversation: 'c2', seq: 1, pad: 'x'.repeat(bytes) }),
    'event',
    'c2',
    1,
    null,
    null,
    null,
    'message',
  );

describe('the outgoing queue', () => {
  it('writes shared frames as the hub rendered them, with the cursor, and its own frames as JSON', () => {
    const t = setup();
    const f = event(7);
    const at = { conversation: 'c1', seq: 7 };
    t.out.emit(f, at);
    t.out.send({ type: 'pong' });
    expect(t.written[0]).toEqual({ text: f.text, shared: f, cursor: at });
    expect(t.written[1]).toEqual({ text: '{"type":"pong"}', shared: null, cursor: null });
    expect(t.urgent).toEqual([]);
    expect(t.degraded).toBe(0);
  });

  it('over the soft mark: says degraded once, ahead of the backlog; sheds typing, coalesces receipts and presence, keeps messages', () => {
    const t = setup();
    t.out.emit(filler(SOFT), null);
    expect(t.urgent.map((u) => JSON.parse(u))).toEqual([{ type: 'degraded', reason: 'backpressure' }]);
    expect(t.degraded).toBe(1);
    t.out.emit(typing('bob'), null);
    t.out.emit(receipt('bob', 3), null);
    t.out.emit(receipt('bob', 5), null);
    t.out.emit(receipt('bob', 4), null); // older: the held seq 5 wins
    t.out.emit(receipt('carol', 2), null);
    t.out.emit(presence([entry('bob', 'active')]), null);
    t.out.send({ type: 'presence', conversation: 'c1', entries: [entry('bob', 'idle')] }, 'presence');
    t.out.emit(event(8), null);
    expect(t.types()).toEqual(['event', 'event']);
    expect(t.urgent).toHaveLength(1);
    expect(t.degraded).toBe(1);
    expect(t.metrics.filter((m) => m.name === 'frame_dropped')).toEqual([
      { name: 'frame_dropped', priority: 'typing' },
    ]);
    expect(t.metrics.filter((m) => m.name === 'frame_coalesced')).toHaveLength(6);

    // Still above half the soft mark: not recovered, nothing released.
    expect(t.out.checkRecovered()).toBe(false);
    expect(t.types()).toEqual(['event', 'event']);

    t.sink.queued = 0;
    expect(t.out.checkRecovered()).toBe(true);
    const released = t.written.slice(2).map((w) => JSON.parse(w.text));
    expect(released).toEqual([
      { type: 'receipt', conversation: 'c1', user_id: 'bob', seq: 5 },
      { type: 'receipt', conversation: 'c1', user_id: 'carol', seq: 2 },
      { type: 'presence', conversation: 'c1', entries: [entry('bob', 'idle')] },
    ]);
    // Recovered: typing goes through again, and a later overflow says degraded again.
    t.out.emit(typing('bob'), null);
    expect(t.types().at(-1)).toBe('typing');
  });

  it('over the soft mark: large-channel inbox hints coalesce per channel, the latest wins', () => {
    const t = setup();
    t.out.emit(hint('big', 3), null);
    expect(t.types()).toEqual(['inbox_hint']);
    t.out.emit(filler(SOFT), null);
    t.out.emit(hint('big', 4), null);
    t.out.emit(hint('other', 9), null);
    t.out.emit(hint('big', 6), null);
    expect(t.types()).toEqual(['inbox_hint', 'event']);
    expect(t.metrics.filter((m) => m.name === 'frame_coalesced')).toEqual([
      { name: 'frame_coalesced', priority: 'receipt' },
      { name: 'frame_coalesced', priority: 'receipt' },
      { name: 'frame_coalesced', priority: 'receipt' },
    ]);
    t.sink.queued = 0;
    expect(t.out.checkRecovered()).toBe(true);
    expect(t.written.slice(2).map((w) => JSON.parse(w.text))).toEqual([
      { type: 'inbox_hint', conversation: 'big', last_seq: 6 },
      { type: 'inbox_hint', conversation: 'other', last_seq: 9 },
    ]);
  });

  it('over the hard mark: cut as a slow consumer with the dropped bytes counted, once; nothing after', () => {
    const t = setup();
    t.out.emit(filler(HARD / 2), null);
    const queued = t.sink.queued;
    t.out.emit(filler(HARD), null);
    expect(t.ends).toEqual([{ how: 'cut', code: CLOSE.SLOW_CONSUMER }]);
    expect(t.closing).toBe(1);
    expect(t.metrics.at(-1)).toEqual({ name: 'slow_consumer', discardedBytes: queued });
    expect(t.out.isClosed).toBe(true);
    t.out.emit(event(9), null);
    t.out.send({ type: 'pong' });
    t.out.close(CLOSE.DRAIN, 'draining');
    expect(t.written).toHaveLength(1);
    expect(t.ends).toHaveLength(1);
    expect(t.closing).toBe(1);
  });

  it('close ends the connection once after what is queued; stop() closes without touching the sink', () => {
    const t = setup();
    t.out.close(CLOSE.DRAIN, 'draining');
    t.out.close(CLOSE.DRAIN, 'draining');
    expect(t.ends).toEqual([{ how: 'close', code: CLOSE.DRAIN }]);
    expect(t.closing).toBe(1);
    const u = setup();
    u.out.stop();
    u.out.send({ type: 'pong' });
    expect(u.out.isClosed).toBe(true);
    expect(u.written).toEqual([]);
    expect(u.ends).toEqual([]);
    expect(u.closing).toBe(0);
  });

  it('a paced replay waits for the reader to drain, and cuts one that does not within the grace', async () => {
    const t = setup(200);
    t.out.emit(filler(SOFT), null);
    expect(t.out.wouldPass(10)).toBe(true);
    const waiting = t.out.paced();
    setTimeout(() => {
      t.sink.queued = 0;
    }, 30);
    expect(await waiting).toBe(true);
    expect(t.ends).toEqual([]);

    t.out.emit(filler(SOFT), null);
    const started = Date.now();
    expect(await t.out.paced()).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(t.ends).toEqual([{ how: 'cut', code: CLOSE.SLOW_CONSUMER }]);
  });
});

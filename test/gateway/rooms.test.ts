// A connection's subscriptions (src/gateway/rooms.ts) on a fake core and a fake sink: the
// state table's moves, replay-then-live without hole or duplicate, and the bus-loss resync.
import { describe, expect, it } from 'vitest';
import type { GatewayCore } from '../../src/gateway/core.ts';
import { Outbound } from '../../src/gateway/outbound.ts';
import type { ResyncTarget, Sink } from '../../src/gateway/ports.ts';
import type { Replay } from '../../src/gateway/queries.ts';
import { moveRoom, type Room, Rooms } from '../../src/gateway/rooms.ts';
import { storedEventFrame, type TopicFrame, type TopicListener } from '../../src/gateway/topic-hub.ts';

const eventText = (seq: number, extra: object = {}) =>
  JSON.stringify({ type: 'event', conversation: 'c1', seq, event: { type: 'message.created', ...extra } });
const ev = (seq: number) => storedEventFrame('c1', seq, eventText(seq));

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function setup() {
  const listeners = new Map<string, Set<TopicListener>>();
  const reads: ReturnType<typeof deferred<Replay>>[] = [];
  const resyncs: ResyncTarget[][] = [];
  const core = {
    opts: { maxSubscriptions: 10, deps: { limits: { replayLimit: 100 } }, log: undefined },
    metrics: { record: () => {} },
    hub: {
      async listen(topic: string, l: TopicListener) {
        const set = listeners.get(topic) ?? new Set();
        set.add(l);
        listeners.set(topic, set);
      },
      unlisten(topic: string, l: TopicListener) {
        listeners.get(topic)?.delete(l);
      },
    },
    async subscribeRead() {
      const d = deferred<Replay>();
      reads.push(d);
      const replay = await d.promise;
      return { access: { kind: 'group', member_count: 2, allowed: true, head: replay.head }, replay };
    },
    async resync(targets: ResyncTarget[]) {
      resyncs.push(targets);
    },
  } as unknown as GatewayCore;
  const written: { type: string; seq?: number }[] = [];
  const sink: Sink = {
    transport: 'ws',
    write: (text) => written.push(JSON.parse(text)),
    urgent: () => {},
    bufferedAmount: () => 0,
    close: () => {},
    cut: () => 0,
  };
  const out = new Outbound(
    sink,
    { softMarkBytes: 1 << 20, hardMarkBytes: 1 << 22, closeGraceMs: 1000 },
    { recordMetric: () => {}, onDegraded: () => {}, onClosing: () => {} },
  );
  const subscribed: string[] = [];
  const rooms = new Rooms(
    core,
    { tenant: 't1', user: 'bob', subscribed: async (c) => void subscribed.push(c) },
    out,
  );
  const publish = (f: TopicFrame) => {
    for (const l of listeners.get('t:t1:c:c1') ?? []) {
      if (typeof l === 'function') l(f);
      else l.topicFrame(f);
    }
  };
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setImmediate(r));
    expect(check()).toBe(true);
  };
  const events = () => written.filter((w) => w.type === 'event').map((w) => w.seq);
  return { rooms, reads, resyncs, written, events, publish, subscribed, until, listeners };
}

describe('room subscriptions', () => {
  it('the state table allows only its moves, and a closed subscription never moves again', () => {
    const room = { conversation: 'c1', state: 'pending' } as Room;
    expect(() => moveRoom(room, 'live')).toThrow(/pending → live/);
    moveRoom(room, 'replaying');
    moveRoom(room, 'resyncing');
    moveRoom(room, 'resyncing');
    moveRoom(room, 'live');
    expect(() => moveRoom(room, 'replaying')).toThrow(/live → replaying/);
    moveRoom(room, 'closed');
    for (const to of ['pending', 'replaying', 'live', 'resyncing', 'closed'] as const)
      expect(() => moveRoom(room, to)).toThrow();
  });

  it('room frames that arrive while the replay is read are buffered, then follow it without a duplicate', async () => {
    const t = setup();
    const done = t.rooms.subscribe('c1', 0);
    await t.until(() => t.reads.length === 1);
    expect(t.rooms.get('c1')?.state).toBe('pending');
    t.publish(ev(3));
    t.publish(ev(4));
    expect(t.events()).toEqual([]);
    t.reads[0].resolve({ head: 3, events: [1, 2, 3].map((seq) => ({ seq, frame: eventText(seq) })) });
    await done;
    expect(t.rooms.get('c1')?.state).toBe('live');
    expect(t.written[0]).toMatchObject({ type: 'subscribed', head_seq: 3, replayed: 3, complete: true });
    expect(t.events()).toEqual([1, 2, 3, 4]);
    expect(t.subscribed).toEqual(['c1']);
    t.publish(ev(4)); // at-least-once bus: a duplicate is dropped
    t.publish(ev(5));
    expect(t.events()).toEqual([1, 2, 3, 4, 5]);
  });

  it('a bus loss buffers live frames until the store fills the gap; one lost before going live resyncs then', async () => {
    const t = setup();
    const first = t.rooms.subscribe('c1', undefined);
    await t.until(() => t.reads.length === 1);
    t.reads[0].resolve({ head: 2, events: [] });
    await first;
    t.publish(ev(3));
    const [target] = t.rooms.beginResync();
    expect(t.rooms.get('c1')?.state).toBe('resyncing');
    expect(target.since).toBe(3);
    t.publish(ev(6)); // after the loss: buffered until the repair is done
    expect(t.events()).toEqual([3]);
    expect(target.offer([ev(4), ev(5)])).toBe(true);
    target.finish();
    expect(t.rooms.get('c1')?.state).toBe('live');
    expect(t.events()).toEqual([3, 4, 5, 6]);

    // Lost while replaying: the subscription resyncs as it would go live.
    t.rooms.unsubscribe('c1', 'UNSUBSCRIBED');
    expect(t.listeners.get('t:t1:c:c1')?.size).toBe(0);
    const second = t.rooms.subscribe('c1', 6);
    await t.until(() => t.reads.length === 2);
    expect(t.rooms.beginResync()).toEqual([]);
    t.reads[1].resolve({ head: 6, events: [] });
    await second;
    expect(t.rooms.get('c1')?.state).toBe('resyncing');
    expect(t.resyncs).toHaveLength(1);
    expect(t.resyncs[0][0].since).toBe(6);
  });
});

// The node's large-channel hints (src/gateway/inbox-hints.ts) on the in-process bus with an
// injected clock: one room listener per channel, one shared frame per interval (the first at
// once, the latest wins), nothing to viewers or to the latest message's sender, and the
// `left` event and the last member's unwatch leave the topic.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryBus } from '../../src/bus/memory.ts';
import { type HintMember, InboxHints } from '../../src/gateway/inbox-hints.ts';
import { type TopicFrame, TopicHub } from '../../src/gateway/topic-hub.ts';

const TOPIC = 't:t1:c:big';

function member(user: string, viewing = false): HintMember & { frames: TopicFrame[]; gone: string[] } {
  const frames: TopicFrame[] = [];
  const gone: string[] = [];
  return {
    user,
    frames,
    gone,
    viewing: () => viewing,
    hint: (f) => frames.push(f),
    left: (c) => gone.push(c),
  };
}

const created = (seq: number, sender: string, body = `m${seq}`) =>
  JSON.stringify({
    type: 'event',
    conversation: 'big',
    seq,
    event: {
      type: 'message.created',
      message: {
        id: `id${seq}`,
        tenant_id: 't1',
        conversation_id: 'big',
        seq,
        kind: 'channel',
        sender: { type: 'user', user_id: sender },
        body,
        created_at: `2026-12-01T10:00:0${seq % 10}.000Z`,
      },
    },
  });

describe('large-channel inbox hints (node)', () => {
  let now = 0;
  let hub: TopicHub;
  let hints: InboxHints;
  const bus = memoryBus();
  beforeEach(() => {
    vi.useFakeTimers();
    now = 10_000;
    hub = new TopicHub(bus);
    hints = new InboxHints(
      hub,
      1_000,
      async () => new Set(),
      () => now,
    );
  });
  afterEach(async () => {
    hints.closeAll();
    await hub.close();
    vi.useRealTimers();
  });

  it('one listener per channel; the first event hinted at once, then one per interval, the latest winning', async () => {
    const bob = member('bob');
    const carol = member('carol');
    const dave = member('dave', true);
    await hints.watch('t1', 'big', bob);
    await hints.watch('t1', 'big', carol);
    await hints.watch('t1', 'big', dave);
    expect(hub.listenerCount(TOPIC)).toBe(1);
    expect(hints.memberCount('t1', 'big')).toBe(3);

    await bus.publish(TOPIC, created(7, 'alice', 'hello'));
    expect(bob.frames).toHaveLength(1);
    // One frame, the same object (and so the same bytes) for every member.
    expect(carol.frames[0]).toBe(bob.frames[0]);
    expect(dave.frames).toEqual([]); // viewing: its entry is written, read
    expect(JSON.parse(bob.frames[0].text)).toEqual({
      type: 'inbox_hint',
      conversation: 'big',
      last_seq: 7,
      last_activity_at: '2026-12-01T10:00:07.000Z',
      last_message: {
        message_id: 'id7',
        seq: 7,
        sender: { type: 'user', user_id: 'alice' },
        body: 'hello',
        kind: 'channel',
        created_at: '2026-12-01T10:00:07.000Z',
      },
    });
    expect(bob.frames[0].priority).toBe('receipt');

    // A burst within the interval: nothing until it ends, then one hint with the latest.
    now += 100;
    await bus.publish(TOPIC, created(8, 'erin'));
    await bus.publish(TOPIC, created(8, 'erin')); // a duplicate from the bus: ignored
    await bus.publish(TOPIC, created(9, 'frank'));
    expect(bob.frames).toHaveLength(1);
    now += 900;
    vi.advanceTimersByTime(900);
    expect(bob.frames).toHaveLength(2);
    expect(JSON.parse(bob.frames[1].text)).toMatchObject({ last_seq: 9, last_message: { body: 'm9' } });

    // An edit moves last_seq only; the latest message's sender gets no hint for it.
    now += 5_000;
    await bus.publish(
      TOPIC,
      JSON.stringify({
        type: 'event',
        conversation: 'big',
        seq: 10,
        event: { type: 'message.deleted', message_id: 'id9', deleted_at: 'x' },
      }),
    );
    expect(JSON.parse(bob.frames[2].text)).toEqual({ type: 'inbox_hint', conversation: 'big', last_seq: 10 });
    // A thread reply moves last_seq, not the preview (the store keeps the channel's last message).
    now += 5_000;
    const reply = JSON.parse(created(11, 'erin'));
    reply.event.message.thread_root = 'id7';
    await bus.publish(TOPIC, JSON.stringify(reply));
    expect(JSON.parse(bob.frames[3].text)).toEqual({ type: 'inbox_hint', conversation: 'big', last_seq: 11 });
    now += 5_000;
    await bus.publish(TOPIC, created(12, 'bob'));
    expect(bob.frames).toHaveLength(4);
    expect(carol.frames).toHaveLength(5);
  });

  it("a channel's `left` event names its members; the last member's unwatch leaves the topic", async () => {
    const bob = member('bob');
    await hints.watch('t1', 'big', bob);
    const carol = member('carol');
    await hints.watch('t1', 'big', carol);
    await bus.publish(
      TOPIC,
      JSON.stringify({
        type: 'event',
        conversation: 'big',
        seq: 3,
        event: {
          type: 'message.created',
          message: {
            id: 'l',
            kind: 'system',
            sender: { type: 'system' },
            body: 'bob left',
            data: { event: 'left', user_ids: ['bob'], by: null },
            created_at: '2026-12-01T10:00:00.000Z',
          },
        },
      }),
    );
    expect(bob.gone).toEqual(['big']);
    expect(carol.gone).toEqual([]);
    expect(JSON.parse(carol.frames[0].text).last_message.sender).toEqual({ type: 'system' });
    hints.unwatch('t1', 'big', bob);
    expect(hub.listenerCount(TOPIC)).toBe(1);
    hints.unwatch('t1', 'big', carol);
    expect(hub.listenerCount(TOPIC)).toBe(0);
    expect(hints.size).toBe(0);
    await bus.publish(TOPIC, created(4, 'alice'));
    expect(carol.frames).toHaveLength(1);
  });
});

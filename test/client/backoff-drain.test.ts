// Reconnect timing: exponential backoff with full jitter (deterministic
// random, manual clock) and the server's drain hint.
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE, fullJitterDelay } from '../../src/client/index.ts';
import { FakeServer, waitFor } from './fake-server.ts';
import { disconnectAll, ManualTimers, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  await server?.close();
});

function sequence(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('fullJitterDelay', () => {
  it('is uniform in [0, min(max, base·2^attempt))', () => {
    const opts = { baseMs: 100, maxMs: 1000 };
    expect(fullJitterDelay(0, opts, () => 0.5)).toBe(50);
    expect(fullJitterDelay(1, opts, () => 0.5)).toBe(100);
    expect(fullJitterDelay(3, opts, () => 0.5)).toBe(400);
    expect(fullJitterDelay(4, opts, () => 0.5)).toBe(500); // capped window 1000
    expect(fullJitterDelay(40, opts, () => 0.999)).toBe(999);
    expect(fullJitterDelay(2, opts, () => 0)).toBe(0); // full jitter may retry at once
  });
});

describe('client reconnect delays', () => {
  it('grow exponentially, fully jittered, and reset after a welcome', async () => {
    server = await FakeServer.start();
    const timers = new ManualTimers();
    const random = sequence([0.5, 0.25, 0.75, 0.9, 0.9, 0.5]);
    let refuse = 5;
    server.onConnect = (conn) => {
      if (refuse-- > 0) {
        conn.close(CLOSE.INTERNAL);
        return true;
      }
      return false;
    };
    const client = makeClient(server, { timers, random, backoff: { baseMs: 100, maxMs: 1000 } });
    const firstDelay: (number | undefined)[] = [];
    client.on('state', (s) => {
      if (s.to === 'reconnecting') firstDelay.push(s.delayMs);
    });
    client.connect();
    const delays: number[] = [];
    for (let i = 1; i <= 5; i++) {
      await server.nextConnection();
      // The close lands, the client schedules exactly one reconnect timer.
      await waitFor(() => timers.pending().length === 1 && !timers.pending().includes(10_000), `retry #${i}`);
      delays.push(timers.pending()[0]);
      timers.advance(timers.pending()[0]);
    }
    // windows 100, 200, 400, 800, 1000 (cap) × random 0.5, 0.25, 0.75, 0.9, 0.9
    expect(delays).toEqual([50, 50, 300, 720, 900]);
    expect(firstDelay).toEqual([50]);
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');

    // After a successful welcome the window starts over at base.
    server.last.close(CLOSE.SLOW_CONSUMER);
    await waitFor(() => client.state === 'reconnecting', 'dropped');
    expect(timers.pending()).toEqual([50]); // random 0.5 × window 100
  });
});

describe('drain', () => {
  it('waits exactly reconnect_after_ms (not a backoff delay), then resumes', async () => {
    server = await FakeServer.start();
    server.append('c1', 'before');
    const timers = new ManualTimers();
    const client = makeClient(server, { timers, random: () => 0.99, backoff: { baseMs: 100, maxMs: 1000 } });
    const sub = client.open('c1', { sinceSeq: 0 });
    client.connect();
    const first = await server.nextConnection();
    await waitFor(() => sub.lastSeq === 1, 'replay');

    first.send({ type: 'drain', reconnect_after_ms: 1234 });
    first.close(CLOSE.DRAIN, 'deploy');
    await waitFor(() => client.state === 'reconnecting', 'draining');
    expect(timers.pending()).toEqual([1234]);
    server.append('c1', 'during deploy', { publish: false });

    timers.advance(1233);
    expect(server.connections).toHaveLength(1);
    timers.advance(1);
    const second = await server.nextConnection();
    expect((await second.waitForFrame('subscribe')).since_seq).toBe(1);
    await waitFor(() => sub.lastSeq === 2, 'resumed');
  });

  it('leaves by itself at the hinted time if the server has not closed yet', async () => {
    server = await FakeServer.start();
    const timers = new ManualTimers();
    const client = makeClient(server, { timers });
    client.connect();
    const first = await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');
    first.send({ type: 'drain', reconnect_after_ms: 500 });
    await waitFor(() => timers.pending().includes(500), 'drain timer');
    timers.advance(500);
    await server.nextConnection();
    await waitFor(() => first.closed, 'old socket closed by the client');
    await waitFor(() => client.state === 'connected', 'reconnected');
  });
});

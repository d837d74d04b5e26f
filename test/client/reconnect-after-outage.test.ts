// A fast first reconnect after a server comes back (issue 13): with the
// default backoff the first retry comes within 500 ms, the window grows to
// 5 s and no further, so a server back after any outage is redialled within
// 5 s of its return; a drain's hint is followed exactly, and when the node is
// not back at that time the backoff starts again from its base, not from a
// grown window. Manual clock, worst-case jitter (random → 0.999).
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF } from '../../src/client/backoff.ts';
import { CLOSE } from '../../src/client/index.ts';
import { FakeServer, waitFor } from './fake-server.ts';
import { disconnectAll, ManualTimers, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  await server?.close();
});

/** The one reconnect timer the client has armed (the connect timeout aside). */
async function nextRetry(timers: ManualTimers, what: string): Promise<number> {
  await waitFor(() => timers.pending().filter((ms) => ms !== 10_000).length === 1, what);
  return timers.pending().filter((ms) => ms !== 10_000)[0];
}

describe('reconnect after an outage (default backoff)', () => {
  it('starts within 500 ms, grows to 5 s and no further, and reaches the returning server within 5 s', async () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 500, maxMs: 5_000 });
    server = await FakeServer.start();
    const timers = new ManualTimers();
    // backoff: {} → the defaults; fallback off: this is about the WebSocket's own schedule.
    const client = makeClient(server, { timers, random: () => 0.999, backoff: {}, fallback: false });
    client.connect();
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');

    // The node goes away: every dial fails below the protocol (no close frame), for a minute.
    let down = true;
    server.onConnect = (conn) => {
      if (!down) return false;
      conn.terminate();
      return true;
    };
    server.last.terminate();
    const delays: number[] = [];
    let elapsed = 0;
    while (elapsed < 60_000) {
      const d = await nextRetry(timers, `retry ${delays.length + 1}`);
      delays.push(d);
      elapsed += d;
      timers.advance(d);
      await server.nextConnection();
    }
    expect(delays.slice(0, 5)).toEqual([499, 999, 1998, 3996, 4995]);
    expect(Math.max(...delays)).toBeLessThan(5_000);

    // Back: the next dial is at most one window away, and it is welcomed.
    down = false;
    const wait = await nextRetry(timers, 'the retry after the server is back');
    expect(wait).toBeLessThan(5_000);
    timers.advance(wait);
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'reconnected');
  });

  it('a drain hint is followed exactly; a node still down then is retried from the base window', async () => {
    server = await FakeServer.start();
    const timers = new ManualTimers();
    const client = makeClient(server, { timers, random: () => 0.999, backoff: {}, fallback: false });
    client.connect();
    const first = await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'connected');
    let down = true;
    server.onConnect = (conn) => {
      if (!down) return false;
      conn.close(CLOSE.DRAIN, 'draining'); // still draining, then gone
      return true;
    };
    first.send({ type: 'drain', reconnect_after_ms: 7_000 });
    first.close(CLOSE.DRAIN, 'deploy');
    expect(await nextRetry(timers, 'the drain wait')).toBe(7_000);
    timers.advance(7_000);
    await server.nextConnection();
    expect(await nextRetry(timers, 'first retry after the drain')).toBe(499); // base window
    down = false;
    timers.advance(499);
    await server.nextConnection();
    await waitFor(() => client.state === 'connected', 'reconnected');
  });
});

// An idle push dispatcher waits for its poll, a NOTIFY or the next row's due time: with
// nothing pending it arms no timer of its own. (It used to read "nothing waits" as "due
// now" and drain every 5 ms: ~100 rounds of three statements a second per node, idle.)
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { push } from '../../src/config/push.ts';
import { PushDispatcher } from '../../src/push/dispatcher.ts';
import { memoryConnections } from '../../src/registry/memory-connections.ts';
import { type Backend, backends, openTestStore, type TestStore } from '../support/stores.ts';

describe.each(backends())('idle push dispatcher (%s)', (backend: Backend) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(backend);
  }, 60_000);
  afterAll(async () => {
    vi.restoreAllMocks();
    await store?.close();
  });

  it('arms no wake-up before its poll when nothing is pending', async () => {
    const config = push({ HERALD_PUSH_POLL_MS: '60000' });
    const dispatcher = new PushDispatcher({
      db: store.db,
      config,
      connections: memoryConnections(),
      providers: {},
      largeChannel: 1000,
    });
    // With nothing pending no due-row timer may be armed; the store's own timers (a pool's
    // idle timeout, PGlite's) are 5 s and longer, the poll 60 s.
    const timers = vi.spyOn(globalThis, 'setTimeout');
    await dispatcher.start();
    // A round of its own, awaited: its last step decides whether to arm the due-row timer.
    expect(await dispatcher.drain()).toEqual({ decided: 0, attempted: 0 });
    await dispatcher.stop();
    const early = timers.mock.calls.map(([, ms]) => ms ?? 0).filter((ms) => ms < 1000);
    timers.mockRestore();
    expect(early).toEqual([]);
  });
});

// The one sync loop of the inbox and notices stores (src/client/cursor-sync.ts), without a
// server: a fetchPage the test controls.
import { describe, expect, it } from 'vitest';
import { CursorSync, type SyncStep } from '../../src/client/cursor-sync.ts';
import { NamedTimers } from '../../src/client/named-timers.ts';

function syncOf(fetchPage: () => Promise<SyncStep>): CursorSync {
  const timers = new NamedTimers({
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  });
  return new CursorSync('test', fetchPage, {
    timers,
    retryDelay: () => 1,
    error: () => {},
    stopped: () => false,
  });
}

describe('CursorSync', () => {
  it('a request made while the last page is applied, landing after the loop looked for one, still runs', async () => {
    let fetches = 0;
    let sync: CursorSync | null = null;
    const asked: Promise<void>[] = [];
    sync = syncOf(async () => {
      fetches++;
      return {
        apply: () => {
          // Queued now, run once the loop has ended (e.g. a welcome handled in that microtask round).
          if (fetches === 1) queueMicrotask(() => asked.push((sync as CursorSync).run()));
        },
        more: false,
      };
    });
    await sync.run();
    await Promise.all(asked);
    expect(fetches).toBe(2);
  });

  it('requests while a run goes share one more run, not one each', async () => {
    let fetches = 0;
    let release = () => {};
    const sync = syncOf(async () => {
      fetches++;
      if (fetches === 1) await new Promise<void>((r) => (release = r));
      return { apply: () => {}, more: false };
    });
    const first = sync.run();
    const joined = [sync.run(), sync.run(), sync.run()];
    release();
    await Promise.all([first, ...joined]);
    expect(fetches).toBe(2);
  });

  it('a fetch that throws at once leaves the loop free for the next request', async () => {
    let fetches = 0;
    const sync = syncOf((() => {
      fetches++;
      if (fetches === 1) throw new Error('boom');
      return Promise.resolve({ apply: () => {}, more: false });
    }) as () => Promise<SyncStep>);
    await expect(sync.run()).rejects.toThrow('boom');
    await sync.run();
    expect(fetches).toBe(2);
  });
});

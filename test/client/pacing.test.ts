// Sends queued offline are flushed at the pace `welcome.limits` allows, not
// all at once: the fake server enforces a frame bucket (close 4402) and a
// fixed-window send limit (RATE_LIMITED) like the gateway does.
import { afterEach, describe, expect, it } from 'vitest';
import type { HeraldClient, OutgoingMessage } from '../../src/client/index.ts';
import { Pacer } from '../../src/client/pacer.ts';
import { FakeServer, waitFor } from './fake-server.ts';
import { disconnectAll, makeClient } from './helpers.ts';

let server: FakeServer;
afterEach(async () => {
  disconnectAll();
  await server?.close();
});

function closes(client: HeraldClient): number[] {
  const codes: number[] = [];
  client.on('state', (s) => {
    if (s.to === 'reconnecting' && s.closeCode !== undefined) codes.push(s.closeCode);
  });
  return codes;
}

async function allConfirmed(out: OutgoingMessage[]): Promise<void> {
  await Promise.all(out.map((m) => m.done));
}

describe('paced flush', () => {
  it('150 sends queued offline go out within the announced limits: no close, each once', async () => {
    server = await FakeServer.start({
      frameRate: { perSec: 100, burst: 100 },
      sendRate: { max: 100, windowMs: 1000 },
    });
    const client = makeClient(server);
    const closed = closes(client);
    const out = Array.from({ length: 150 }, (_, i) => client.send('c1', `m${i}`));
    client.connect();
    await allConfirmed(out);
    expect(closed).toEqual([]);
    expect(server.connections).toHaveLength(1);
    // Paced to 4/5 of the budget: a refusal needs frames bunched by a stall of a third of a second
    // (possible on a loaded machine; a refused send is retried). All at once, a third would be.
    expect(server.rateLimited).toBeLessThanOrEqual(15);
    for (const m of out) expect(server.countClientId('c1', m.client_id)).toBe(1);
  });

  it('without welcome.limits (an older server) it paces by the gateway defaults', async () => {
    server = await FakeServer.start({
      limits: null,
      frameRate: { perSec: 30, burst: 60 },
      sendRate: { max: 20, windowMs: 1000 },
    });
    const client = makeClient(server);
    const closed = closes(client);
    const out = Array.from({ length: 30 }, (_, i) => client.send('c1', `m${i}`));
    client.connect();
    await allConfirmed(out);
    expect(closed).toEqual([]);
    expect(server.rateLimited).toBeLessThanOrEqual(3);
    expect(server.log('c1')).toHaveLength(30);
  });
});

describe('paced resume', () => {
  it('80 open conversations are resubscribed within the frame limit after a reconnect', async () => {
    server = await FakeServer.start({ frameRate: { perSec: 30, burst: 60 } });
    const client = makeClient(server);
    const closed = closes(client);
    const subs = Array.from({ length: 80 }, (_, i) => client.open(`c${i}`, { sinceSeq: 0 }));
    client.connect();
    await waitFor(() => subs.every((s) => s.status === 'subscribed'), 'all subscribed', 10_000);
    server.last.terminate();
    await waitFor(() => closed.length === 1, 'dropped');
    await waitFor(
      () => server.connections.length === 2 && server.last.framesOf('subscribe').length === 80,
      'all resubscribed',
      10_000,
    );
    await waitFor(() => subs.every((s) => s.status === 'subscribed'), 'all subscribed again');
    expect(closed).toEqual([1006]);
  });
});

describe('Pacer', () => {
  it('stays within a fixed window of burst = rate × window, and within the token bucket', () => {
    const now = 1_000_000;
    const p = new Pacer(now);
    p.reset({ send_per_sec: 20, send_burst: 20, frames_per_sec: 30, frames_burst: 60 }, now);
    // Drive it as the client does: write whenever waitMs says 0, over 5 s of simulated time.
    const sent: number[] = [];
    for (let t = now; t < now + 5000; ) {
      const w = p.waitMs(t, true);
      if (w > 0) {
        t += w;
        continue;
      }
      p.frameWritten(t);
      p.sendWritten(t);
      sent.push(t);
    }
    for (const start of sent) {
      const inWindow = sent.filter((x) => x >= start && x < start + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(16); // 4/5 of the budget: room for bunched arrivals
    }
    expect(sent.length).toBeGreaterThan(55); // ~12/s: paced, not stalled
  });
});

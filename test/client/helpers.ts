// Shared test plumbing: a client factory wired to the fake server, a manual
// clock for timer-driven behaviour, and a recorder of client events.
import WebSocket from 'ws';
import { HeraldClient, type HeraldClientOptions } from '../../src/client/index.ts';
import type { Timers } from '../../src/client/timers.ts';
import type { FakeServer } from './fake-server.ts';

const live: HeraldClient[] = [];

export function makeClient(server: FakeServer, opts: Partial<HeraldClientOptions> = {}): HeraldClient {
  const client = new HeraldClient({
    url: server.url,
    token: 'tok-1',
    WebSocket,
    backoff: { baseMs: 20, maxMs: 100 },
    pingIntervalMs: 0,
    heartbeat: false,
    ...opts,
  });
  live.push(client);
  return client;
}

/** Call from afterEach: disconnects every client made by makeClient. */
export function disconnectAll(): void {
  for (const c of live.splice(0)) c.disconnect();
}

interface Scheduled {
  id: number;
  at: number;
  ms: number;
  fn: () => void;
}

/** A clock that only moves when the test says so; records every delay asked for. */
export class ManualTimers implements Timers {
  nowMs = 1_700_000_000_000;
  readonly requested: number[] = [];
  private queue: Scheduled[] = [];
  private nextId = 1;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.requested.push(ms);
    this.queue.push({ id, at: this.nowMs + ms, ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.queue = this.queue.filter((t) => t.id !== handle);
  }

  now(): number {
    return this.nowMs;
  }

  /** Delays of the timers still pending. */
  pending(): number[] {
    return this.queue.map((t) => t.ms);
  }

  /** Moves the clock forward, firing due timers in order. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      const due = this.queue.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.queue = this.queue.filter((t) => t !== due);
      this.nowMs = due.at;
      due.fn();
    }
    this.nowMs = until;
  }
}

/** Records `state` transitions as "from>to". */
export function recordStates(client: HeraldClient): string[] {
  const out: string[] = [];
  client.on('state', (s) => out.push(`${s.from}>${s.to}`));
  return out;
}

let barriers = 0;
/**
 * A notice the client has never seen (unique id), so it always emits `notice`: send it after
 * other frames and wait for the event to know the client has handled everything before it.
 */
export function barrierNotice(): { id: string } {
  return { id: `barrier-${++barriers}` };
}
